import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { FuelDeploymentStack } from './stack.js';

const app = new App();
// Environment-agnostic: account and region come from the deploy-time credentials.
new FuelDeploymentStack(app, 'FuelDeployment', {
  stackName: 'FuelDeployment',
  description:
    'Fuel deployment service: HTTP API, DynamoDB state, Step Functions deployments, SSM Run Command',
});
// cdk-nag's AwsSolutions and Serverless packs: synthesis fails on a finding not acknowledged in the stack
// (test/unit/cdk-nag.test.ts runs the same packs in npm test).
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
app.synth();
