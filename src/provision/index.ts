// Provisioning as data: given settings and facts about a host, the steps (argv + files) to run there.
export * from './step.js';
export * from './preflight.js';
export * from './docker.js';
export * from './firewall.js';
export * from './tls.js';
export * from './deployment.js';
export * from './deploy-plan.js';
export * from './diff.js';
export * from './renewal.js';
export * from './renewal-plan.js';
export * from './retention.js';
export * from './notify.js';
export * from './destroy-plan.js';
