/**
 * The task document on a node whose SSM Agent is older than 3.3.2746.0: such an agent ignores
 * `interpolationType: ENV_VAR`, so `SSM_command` is never set. The document must fail there, naming the
 * agent version it needs, instead of exiting 0 with nothing run; on a current agent it runs the command.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstanceInformationCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_VAR_MIN_AGENT_VERSION, LocalFleet, type SsmDocument } from '../../local/ssm/fleet.js';
import { fleetClient, fleetCommands, fleetNodeId, RUN_TASK } from '../helpers/fleet-client.js';

const runTaskDocument = JSON.parse(
  readFileSync(new URL('../../infra/documents/run-task.json', import.meta.url), 'utf8'),
) as SsmDocument;

/** An agent of 2024, before ENV_VAR interpolation. */
const OLD_AGENT = '3.3.1142.0';

let baseDir: string;
let fleet: LocalFleet;
let ssm: SSMClient;
const { finished, sendTask } = fleetCommands(() => ssm);

beforeAll(async () => {
  baseDir = mkdtempSync(join(tmpdir(), 'ssm-old-agent-'));
  fleet = new LocalFleet({ baseDir, nodeCount: 2, documents: { [RUN_TASK]: runTaskDocument } });
  fleet.setAgentVersion('node-2', OLD_AGENT);
  ssm = fleetClient(await fleet.listen(0));
});

afterAll(async () => {
  ssm?.destroy();
  await fleet?.close();
  if (baseDir !== undefined) rmSync(baseDir, { recursive: true, force: true });
});

describe('the task document and the SSM Agent version', () => {
  it('reports each node’s agent version', async () => {
    const out = await ssm.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: 'InstanceIds', Values: [fleetNodeId(1), fleetNodeId(2)] }],
      }),
    );
    const versions = Object.fromEntries(
      (out.InstanceInformationList ?? []).map((info) => [info.InstanceId, info.AgentVersion]),
    );
    expect(versions[fleetNodeId(2)]).toBe(OLD_AGENT);
    expect(versions[fleetNodeId(1)]).not.toBe(OLD_AGENT);
    expect(fleet.instances().find((node) => node.name === 'node-2')?.agentVersion).toBe(OLD_AGENT);
  });

  it('fails on an agent too old for ENV_VAR parameters, naming the version it needs', async () => {
    const commandId = await sendTask([fleetNodeId(2)], {
      command: ['echo deployed > deployed.txt'],
      retries: ['2'],
    });
    const out = await finished(commandId, fleetNodeId(2));
    expect(out.Status).toBe('Failed');
    expect(out.ResponseCode).not.toBe(0);
    expect(out.ResponseCode).not.toBe(-1);
    expect(out.StandardErrorContent).toContain(`SSM Agent ${ENV_VAR_MIN_AGENT_VERSION} or later`);
    // not retried: the command never reached the node
    expect(out.StandardErrorContent).not.toContain('retrying');
    expect(existsSync(join(baseDir, 'node-2', 'deployed.txt'))).toBe(false);
  });

  it('runs the command on a current agent', async () => {
    const commandId = await sendTask([fleetNodeId(1)], {
      command: ['echo deployed > deployed.txt; echo ok'],
    });
    const out = await finished(commandId, fleetNodeId(1));
    expect(out.Status).toBe('Success');
    expect(out.ResponseCode).toBe(0);
    expect(out.StandardOutputContent).toBe('ok\n');
    expect(out.StandardErrorContent).toBe('');
    expect(readFileSync(join(baseDir, 'node-1', 'deployed.txt'), 'utf8')).toBe('deployed\n');
  });
});
