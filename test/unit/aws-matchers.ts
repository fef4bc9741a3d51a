/** Registers the aws-sdk-client-mock-vitest matchers (toHaveReceivedCommandWith, …) for the test files that import it. */
import type { CustomMatcher } from 'aws-sdk-client-mock-vitest';
import {
  toHaveReceivedCommand,
  toHaveReceivedCommandTimes,
  toHaveReceivedCommandWith,
  toHaveReceivedNthCommandWith,
} from 'aws-sdk-client-mock-vitest';
import { expect } from 'vitest';

expect.extend({ toHaveReceivedCommand, toHaveReceivedCommandTimes, toHaveReceivedCommandWith, toHaveReceivedNthCommandWith });

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  interface Matchers<T = any> extends CustomMatcher<T> {}
}
