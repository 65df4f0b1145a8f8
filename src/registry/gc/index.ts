export { collectGarbage, DEFAULT_GRACE_MS, DEFAULT_SETTLE_MS, type GcOptions, type GcPhase, type GcReport } from './collect.js';
export { gcCommand, humanSummary, writeStateFile, type GcOutput, type GcStateRecord } from './gc-command.js';
export { GcBusyError } from './trash.js';
