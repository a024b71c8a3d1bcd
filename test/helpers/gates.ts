/**
 * Gates: a task's command waits until a file (`gate-NAME`) appears in its node's work directory, which the
 * test writes once the moment it needs has come (a stop accepted, a reading held): a task held running for as
 * long as the test needs, without timing.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a gate needs of the local fleet: its instances' work directories. */
export interface GateFleet {
  instances(): readonly { instanceId: string; workDir: string }[];
}

/** A command that waits (at most `seconds`) for `openGate(..., gate)`, then runs `cmd`; it fails if never opened. */
export function gated(gate: string, cmd = 'true', seconds = 20): string {
  const file = `"$HOME/gate-${gate}"`;
  const polls = seconds * 20;
  return `n=0; while [ ! -f ${file} ] && [ $n -lt ${polls} ]; do sleep 0.05; n=$((n+1)); done; [ -f ${file} ] && ${cmd}`;
}

function gateFiles(fleet: GateFleet, gate: string, instanceIds?: readonly string[]): string[] {
  const all = fleet.instances();
  const chosen =
    instanceIds === undefined
      ? all
      : instanceIds.map((id) => {
          const instance = all.find((i) => i.instanceId === id);
          if (!instance) throw new Error(`no instance ${id} in the fleet`);
          return instance;
        });
  return chosen.map((i) => join(i.workDir, `gate-${gate}`));
}

/** Opens a gate on the instances named (every one by default): the tasks waiting on it go on. */
export function openGate(fleet: GateFleet, gate: string, instanceIds?: readonly string[]): void {
  for (const file of gateFiles(fleet, gate, instanceIds)) writeFileSync(file, '');
}

/** Closes a gate on every instance again: the next tasks to reach it wait. */
export function closeGate(fleet: GateFleet, gate: string): void {
  for (const file of gateFiles(fleet, gate)) rmSync(file, { force: true });
}
