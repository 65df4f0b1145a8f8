// The generated files of a deployment, one module per job: the template engine, the renderers'
// guards, nginx.conf, the Dockerfile, compose.yaml. The host layout and the other names the host
// and the image share are src/host/contract.ts (re-exported here for the modules that render).
export * from '../host/contract.js';
export * from './engine.js';
export * from './validate.js';
export * from './nginx.js';
export * from './dockerfile.js';
export * from './compose.js';
export * from './mirrors.js';
