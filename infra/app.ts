import { App } from 'aws-cdk-lib';
import { FuelDeploymentStack } from './stack.js';

const app = new App();
// Environment-agnostic: account and region come from the deploy-time credentials.
new FuelDeploymentStack(app, 'FuelDeployment', {
  stackName: 'FuelDeployment',
  description:
    'Fuel deployment service: HTTP API, DynamoDB state, Step Functions deployments, SSM Run Command',
});
app.synth();
