/**
 * SSM documents as the local fleet runs them: the `aws:runShellScript` steps, the parameters a command
 * gives (checked against the document, defaults filled in) and the `{{ name }}` placeholders of the
 * steps, resolved into the script, timeout and working folder each step runs with. Parameters with
 * `interpolationType: ENV_VAR` reach a step as `SSM_<name>` variables on an agent that knows them
 * (3.3.2746.0 or later); an older agent ignores the property, as AWS documents: no variable, and a
 * `{{ name }}` placeholder is replaced by the value itself.
 */
import { isAbsolute, join } from 'node:path';
import { AwsJsonError } from '../aws-json/errors.js';

export interface SsmDocument {
  schemaVersion: string;
  parameters?: Record<
    string,
    {
      type: string;
      default?: string;
      allowedPattern?: string;
      interpolationType?: string;
      description?: string;
    }
  >;
  mainSteps: {
    action: string;
    name: string;
    inputs: { runCommand: string[]; timeoutSeconds?: string; workingDirectory?: string };
  }[];
}

/** The parameter values of one command. */
export interface ResolvedParameters {
  /** Resolved values (given or default) of parameters without interpolation type. */
  values: Record<string, string>;
  /** `SSM_<name>` variables of ENV_VAR parameters. */
  env: Record<string, string>;
}

/** One step, ready to run. */
export interface PreparedStep {
  name: string;
  script: string;
  timeoutMs: number;
  cwd: string;
  /** The `SSM_<name>` variables the step gets. */
  env: Record<string, string>;
}

const DEFAULT_EXECUTION_TIMEOUT_SECONDS = 3600;
const MAX_EXECUTION_TIMEOUT_SECONDS = 172_800;
const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

/** Refuses documents with a step the fleet cannot run. */
export function checkDocuments(documents: Record<string, SsmDocument>): void {
  for (const [name, document] of Object.entries(documents)) {
    for (const step of document.mainSteps) {
      if (step.action !== 'aws:runShellScript') {
        throw new Error(
          `Document ${name}: step ${step.name} uses ${step.action}; only aws:runShellScript runs here`,
        );
      }
    }
  }
}

const invalidParameters = (message: string): AwsJsonError => new AwsJsonError('InvalidParameters', message);

/** Checks the given parameters against the document and resolves every value (given or default). */
export function resolveParameters(
  documentName: string,
  document: SsmDocument,
  given: Record<string, string[]>,
): ResolvedParameters {
  const declared = document.parameters ?? {};
  for (const name of Object.keys(given)) {
    if (!(name in declared)) {
      throw invalidParameters(`Parameter ${name} is not declared by document ${documentName}`);
    }
  }
  const values: Record<string, string> = {};
  const env: Record<string, string> = {};
  for (const [name, definition] of Object.entries(declared)) {
    const list = given[name];
    let value: string;
    if (list === undefined) {
      if (definition.default === undefined) {
        throw invalidParameters(`Parameter ${name} of document ${documentName} is required`);
      }
      value = definition.default;
    } else {
      if (definition.type === 'String' && list.length !== 1) {
        throw invalidParameters(`Parameter ${name} takes exactly one value, got ${list.length}`);
      }
      if (definition.allowedPattern !== undefined) {
        const pattern = new RegExp(definition.allowedPattern);
        const bad = list.find((item) => !pattern.test(item));
        if (bad !== undefined) {
          throw invalidParameters(
            `Parameter ${name} value ${JSON.stringify(bad)} does not match ${definition.allowedPattern}`,
          );
        }
      }
      value = list.join(',');
    }
    if (definition.interpolationType === 'ENV_VAR') env[`SSM_${name}`] = value;
    else values[name] = value;
  }
  return { values, env };
}

/**
 * The parameters as a node's agent applies them: unchanged on an agent that interpolates ENV_VAR parameters
 * into environment variables; on an older one, which ignores `interpolationType`, no `SSM_<name>` variable
 * is set and the value goes into the script text like any other parameter's.
 */
export function parametersForAgent(parameters: ResolvedParameters, envVars: boolean): ResolvedParameters {
  if (envVars) return parameters;
  const values = { ...parameters.values };
  for (const [variable, value] of Object.entries(parameters.env)) {
    values[variable.slice('SSM_'.length)] = value;
  }
  return { values, env: {} };
}

/**
 * Substitutes `{{ name }}` placeholders. Parameters interpolated as ENV_VAR never enter the script text:
 * their placeholders become a reference to the `SSM_<name>` variable.
 */
function substitute(text: string, parameters: ResolvedParameters): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => {
    const value = parameters.values[name];
    if (value !== undefined) return value;
    if (parameters.env[`SSM_${name}`] !== undefined) return `\${SSM_${name}}`;
    return whole;
  });
}

/**
 * The document's steps with the command's parameters in place (as `parametersForAgent` gives them for the
 * node's agent); relative folders are under `workDir`.
 */
export function prepareSteps(
  document: SsmDocument,
  parameters: ResolvedParameters,
  workDir: string,
): PreparedStep[] {
  return document.mainSteps.map((step) => {
    const rawTimeout =
      step.inputs.timeoutSeconds === undefined ? '' : substitute(step.inputs.timeoutSeconds, parameters);
    const parsed = Number.parseInt(rawTimeout, 10);
    const seconds =
      Number.isFinite(parsed) && parsed > 0
        ? Math.min(parsed, MAX_EXECUTION_TIMEOUT_SECONDS)
        : DEFAULT_EXECUTION_TIMEOUT_SECONDS;
    const directory =
      step.inputs.workingDirectory === undefined ? '' : substitute(step.inputs.workingDirectory, parameters);
    return {
      name: step.name,
      script: step.inputs.runCommand.map((line) => substitute(line, parameters)).join('\n'),
      timeoutMs: seconds * 1000,
      cwd: directory === '' ? workDir : isAbsolute(directory) ? directory : join(workDir, directory),
      env: { ...parameters.env },
    };
  });
}
