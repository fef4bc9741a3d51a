// Placeholder until the handler lands; CDK points at this file.
export const handler = async (): Promise<never> => {
  throw new Error('not implemented yet');
};
