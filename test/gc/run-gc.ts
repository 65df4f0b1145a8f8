// `gc` as its own program, for the test that checks what really reaches stdout.
import { gcCommand } from '../../src/registry/gc/gc-command.js';

await gcCommand().parseAsync(process.argv);
