/** The nice value of the runtime's background threads (0 is the default, 19 the lowest priority). */
export declare const BACKGROUND_NICE: number;
/** Lowers the calling thread's priority to `nice` (Linux); a refusal leaves it as it was. */
export declare function lowerPriority(nice: number | undefined): boolean;
