#!/usr/bin/env node
// CDK app entry: `npx cdk deploy --app "npx tsx infra/aws/app.ts"` (see infra/README.md).
// The stack is environment-agnostic unless CDK_DEFAULT_ACCOUNT/REGION are set by the CDK CLI, and
// makes no context lookups, so `cdk synth` works offline.
import { App, Tags } from 'aws-cdk-lib';
import { KilnStack } from './kiln-stack';

const app = new App();
const stack = new KilnStack(app, app.node.tryGetContext('kiln:stackName') ?? 'Kiln', {
  env:
    process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
      ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
      : undefined,
  alarmEmail: app.node.tryGetContext('kiln:alarmEmail'),
  maxWorkers: app.node.tryGetContext('kiln:maxWorkers') ? Number(app.node.tryGetContext('kiln:maxWorkers')) : undefined,
  gpuInstanceType: app.node.tryGetContext('kiln:gpuInstanceType'),
});
Tags.of(stack).add('app', 'kiln');
app.synth();
