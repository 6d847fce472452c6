import { Command } from 'commander';
import type { NodeView } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { seg } from '../api-client.js';
import { checkSelector, intOption } from '../args.js';
import { errorLine } from '../errors.js';
import { renderFleetFrame, renderNodeFrame } from '../views/top-frame.js';

const CLEAR = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

export function topCommand(deps: CliDeps): Command {
  return new Command('top')
    .description("live view of the fleet, or of one node's GPUs (redraws every 2 s)")
    .argument('[node]', 'node id, unique id prefix or hostname: show its GPUs')
    .option('-l, --selector <selector>', 'only nodes matching this label selector (fleet view)')
    .option('--interval <seconds>', 'seconds between redraws', intOption('--interval', 1, 3600), 2)
    .addHelpText(
      'after',
      `
Press q or Ctrl-C to quit. When the output is not a terminal, one frame is printed.

Examples:
  gpufleet top                        every node with its GPU utilization
  gpufleet top -l gpu.model=H100      only H100 hosts
  gpufleet top gpu-node-07            each GPU of one node: util, memory, temperature, power
  gpufleet top > snapshot.txt         one frame, for a report`,
    )
    .action(async (ref: string | undefined, _opts, cmd: Command) => {
      const { io } = deps;
      const o = deps.opts<{ selector?: string; interval: number }>(cmd);
      const selector = checkSelector(o.selector);
      const client = deps.client(cmd);
      const frame = async (): Promise<string> => {
        const opts = { now: deps.now(), width: io.columns, height: io.stdoutIsTty ? io.rows : undefined, server: client.server };
        if (ref !== undefined) return renderNodeFrame(await client.get<NodeView>(`/api/v1/nodes/${seg(ref)}`), opts);
        const list = await client.get<{ items: NodeView[] }>('/api/v1/nodes', { selector, limit: 10_000 });
        return renderFleetFrame(list.items, opts);
      };

      // The first frame's errors (no server, unknown node) end the command like any other.
      const first = await frame();
      if (!io.stdoutIsTty) {
        io.out(first);
        return;
      }
      let stopped = false;
      let wake: (() => void) | null = null;
      const dispose = io.onInterrupt(
        () => {
          stopped = true;
          wake?.();
        },
        { keys: true },
      );
      io.out(HIDE_CURSOR + CLEAR + first);
      try {
        while (!stopped) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, o.interval * 1000);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          if (stopped) break;
          let text: string;
          try {
            text = await frame();
          } catch (err) {
            // Keep watching through a server restart or a network blip; say what is wrong.
            text = `${errorLine(err)}\nretrying every ${o.interval}s (q quits)\n`;
          }
          if (!stopped) io.out(CLEAR + text);
        }
      } finally {
        dispose();
        io.out(SHOW_CURSOR);
      }
    });
}
