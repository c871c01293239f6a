import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { KilnStack } from '../../infra/aws/kiln-stack';

type Resource = { Type: string; Properties: Record<string, any> };

// Bundling (npm ci + tsc for the API, esbuild for the metrics Lambda) is what `cdk deploy` does;
// the template does not depend on it, so tests skip it to stay offline and fast.
function synth(props: ConstructorParameters<typeof KilnStack>[2] = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return Template.fromStack(new KilnStack(app, 'Kiln', props));
}

function resourcesOf(template: Template, type: string): Array<[string, Resource]> {
  return Object.entries(template.toJSON().Resources as Record<string, Resource>).filter(([, r]) => r.Type === type);
}

function only(template: Template, type: string): Resource {
  const found = resourcesOf(template, type);
  assert.equal(found.length, 1, `expected one ${type}, found ${found.length}`);
  return found[0][1];
}

/** Every IAM statement of every inline policy and role in the template. */
function allStatements(template: Template): Array<{ owner: string; statement: any }> {
  const out: Array<{ owner: string; statement: any }> = [];
  for (const [id, r] of Object.entries(template.toJSON().Resources as Record<string, Resource>)) {
    const docs: any[] = [];
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') docs.push(r.Properties.PolicyDocument);
    if (r.Type === 'AWS::IAM::Role') for (const p of r.Properties.Policies ?? []) docs.push(p.PolicyDocument);
    for (const d of docs) for (const s of d.Statement) out.push({ owner: id, statement: s });
  }
  return out;
}

const asArray = (v: unknown) => (Array.isArray(v) ? v : [v]);

/** The policy attached to the role that `roleLogicalIdPrefix` names. */
function statementsOfRole(template: Template, roleLogicalIdPrefix: string): any[] {
  return resourcesOf(template, 'AWS::IAM::Policy')
    .filter(([, r]) => r.Properties.Roles.some((ref: any) => String(ref.Ref).startsWith(roleLogicalIdPrefix)))
    .flatMap(([, r]) => r.Properties.PolicyDocument.Statement);
}

describe('KilnStack', () => {
  let template: Template;
  before(() => {
    template = synth();
  });

  describe('artifact bucket', () => {
    it('is versioned, encrypted, private and expires old checkpoint versions', () => {
      const bucket = only(template, 'AWS::S3::Bucket').Properties;
      assert.deepEqual(bucket.VersioningConfiguration, { Status: 'Enabled' });
      assert.equal(
        bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm,
        'AES256',
      );
      assert.deepEqual(bucket.PublicAccessBlockConfiguration, {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      const rule = bucket.LifecycleConfiguration.Rules.find((r: any) => r.Id === 'expire-old-checkpoint-versions');
      assert.ok(rule, 'lifecycle rule for old checkpoint versions');
      assert.equal(rule.Status, 'Enabled');
      assert.ok(rule.NoncurrentVersionExpiration.NoncurrentDays > 0);
      assert.ok(rule.AbortIncompleteMultipartUpload.DaysAfterInitiation > 0);
    });

    it('denies every request that is not over TLS', () => {
      const policy = only(template, 'AWS::S3::BucketPolicy').Properties.PolicyDocument;
      const deny = policy.Statement.find((s: any) => s.Effect === 'Deny');
      assert.ok(deny, 'a Deny statement');
      assert.deepEqual(deny.Condition, { Bool: { 'aws:SecureTransport': 'false' } });
      assert.deepEqual(deny.Principal, { AWS: '*' });
      // The only wildcard action allowed anywhere is this Deny.
      assert.equal(policy.Statement.filter((s: any) => s.Effect === 'Allow').length, 0);
    });
  });

  describe('IAM', () => {
    it('grants no wildcard actions on S3 (or at all) in any Allow statement', () => {
      const statements = allStatements(template);
      assert.ok(statements.length > 5);
      for (const { owner, statement } of statements) {
        if (statement.Effect !== 'Allow') continue;
        for (const action of asArray(statement.Action)) {
          assert.notEqual(action, '*', `${owner} allows *`);
          assert.ok(!/^s3:.*\*/.test(action), `${owner} allows wildcard S3 action ${action}`);
        }
      }
    });

    it('lets workers write only under */runs/* and read objects', () => {
      const statements = statementsOfRole(template, 'WorkerTaskTaskRole');
      const writes = statements.filter((s) => asArray(s.Action).some((a: string) => /Put|Delete|Abort/.test(a)));
      assert.equal(writes.length, 1);
      assert.deepEqual(asArray(writes[0].Action).sort(), ['s3:AbortMultipartUpload', 's3:PutObject']);
      const [bucketArn, suffix] = writes[0].Resource['Fn::Join'][1];
      assert.match(bucketArn['Fn::GetAtt'][0], /^Artifacts/);
      assert.equal(suffix, '/*/runs/*');
      assert.ok(statements.some((s) => s.Action === 's3:GetObject'));
      assert.ok(!statements.some((s) => asArray(s.Action).includes('s3:DeleteObject')));
    });

    it('lets the API only read the bucket', () => {
      const statements = statementsOfRole(template, 'ApiServiceRole');
      const s3Actions = statements.flatMap((s) => asArray(s.Action)).filter((a: string) => a.startsWith('s3:'));
      assert.deepEqual(s3Actions.sort(), ['s3:GetObject', 's3:ListBucket']);
    });
  });

  describe('Redis', () => {
    it('never evicts, encrypts in transit and at rest, and survives a node loss', () => {
      const params = only(template, 'AWS::ElastiCache::ParameterGroup').Properties;
      assert.equal(params.CacheParameterGroupFamily, 'redis7');
      assert.deepEqual(params.Properties, { 'maxmemory-policy': 'noeviction' });

      const rg = only(template, 'AWS::ElastiCache::ReplicationGroup').Properties;
      assert.equal(rg.Engine, 'redis');
      assert.match(rg.EngineVersion, /^7\./);
      assert.equal(rg.TransitEncryptionEnabled, true);
      assert.equal(rg.AtRestEncryptionEnabled, true);
      assert.equal(rg.AutomaticFailoverEnabled, true);
      assert.equal(rg.MultiAZEnabled, true);
      assert.ok(rg.NumCacheClusters >= 2);
      assert.ok(rg.SnapshotRetentionLimit >= 1);
      assert.match(JSON.stringify(rg.AuthToken), /resolve:secretsmanager/);
      const paramsId = resourcesOf(template, 'AWS::ElastiCache::ParameterGroup')[0][0];
      assert.deepEqual(rg.CacheParameterGroupName, { Ref: paramsId });
    });

    it('is reachable only from the API, the workers and the metrics Lambda', () => {
      const ingress = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress').filter(
        ([, r]) => r.Properties.FromPort === 6379,
      );
      const sources = ingress.map(([, r]) => r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0]).sort();
      assert.equal(sources.length, 3);
      assert.ok(sources.every((s) => /^(ApiSg|WorkerSg|QueueMetricsSg)/.test(s)), sources.join());
    });
  });

  describe('API', () => {
    it('runs dist/api/lambda.handler with 1024 MiB behind an HTTP API', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Handler: 'dist/api/lambda.handler',
        MemorySize: 1024,
        // Node 22 LTS, as package.json's engines and the images.
        Runtime: 'nodejs22.x',
        Timeout: 29,
        Environment: {
          Variables: Match.objectLike({
            KILN_STORE: { 'Fn::Join': ['', ['s3://', { Ref: Match.stringLikeRegexp('^Artifacts') }, '/kiln']] },
            KILN_QUEUE_PREFIX: '{kiln}',
            REDIS_URL: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
            KILN_API_KEYS: Match.anyValue(),
            // Swagger UI behind API Gateway: the served document names the public endpoint.
            KILN_PUBLIC_URL: { 'Fn::GetAtt': [Match.stringLikeRegexp('^HttpApi'), 'ApiEndpoint'] },
          }),
        },
      });
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
      template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
      });
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
    });

    it('takes secrets from Secrets Manager, never as literals', () => {
      const api = resourcesOf(template, 'AWS::Lambda::Function').find(([id]) => id.startsWith('Api'))![1];
      const env = api.Properties.Environment.Variables;
      for (const name of ['REDIS_URL', 'KILN_API_KEYS', 'KILN_WEBHOOK_SECRET']) {
        assert.match(JSON.stringify(env[name]), /\{\{resolve:secretsmanager:/, name);
      }
    });

    it('honours the memory option', () => {
      synth({ apiMemoryMiB: 2048 }).hasResourceProperties('AWS::Lambda::Function', {
        Handler: 'dist/api/lambda.handler',
        MemorySize: 2048,
      });
    });
  });

  describe('GPU workers', () => {
    it('run on GPU instances in an auto scaling group that can shrink to zero', () => {
      const asg = only(template, 'AWS::AutoScaling::AutoScalingGroup').Properties;
      assert.equal(asg.MinSize, '0');
      assert.equal(asg.NewInstancesProtectedFromScaleIn, true);
      const lt = only(template, 'AWS::EC2::LaunchTemplate').Properties.LaunchTemplateData;
      assert.equal(lt.InstanceType, 'g4dn.xlarge');
      assert.match(JSON.stringify(template.toJSON().Parameters), /amazon-linux-2\/gpu\/recommended/);
      template.hasResourceProperties('AWS::ECS::CapacityProvider', {
        AutoScalingGroupProvider: { ManagedScaling: { Status: 'ENABLED' }, ManagedTerminationProtection: 'ENABLED' },
      });
    });

    it('ask for one GPU, require it, and stop later than the worker grace period', () => {
      const task = only(template, 'AWS::ECS::TaskDefinition').Properties;
      const [container] = task.ContainerDefinitions;
      assert.deepEqual(container.ResourceRequirements, [{ Type: 'GPU', Value: '1' }]);
      const env = Object.fromEntries(container.Environment.map((e: any) => [e.Name, e.Value]));
      assert.equal(env.KILN_REQUIRE_GPU, 'true');
      assert.equal(env.KILN_BACKEND, 'node-gpu');
      assert.equal(env.KILN_QUEUE_PREFIX, '{kiln}');
      const grace = Number(env.KILN_SHUTDOWN_GRACE_SECONDS);
      assert.ok(container.StopTimeout > grace, `StopTimeout ${container.StopTimeout} > grace ${grace}`);
      assert.deepEqual(container.Secrets.map((s: any) => s.Name).sort(), ['KILN_WEBHOOK_SECRET', 'REDIS_URL']);
      assert.deepEqual(container.HealthCheck.Command.slice(0, 3), ['CMD', 'node', 'infra/docker/healthcheck.js']);
      const service = only(template, 'AWS::ECS::Service').Properties;
      assert.equal(service.DesiredCount, 0);
      assert.equal(service.DeploymentConfiguration.MinimumHealthyPercent, 100);
    });

    it('scale on the queue metrics with min 0 and both directions covered', () => {
      const target = only(template, 'AWS::ApplicationAutoScaling::ScalableTarget').Properties;
      assert.equal(target.MinCapacity, 0);
      assert.equal(target.MaxCapacity, 4);
      assert.equal(target.ScalableDimension, 'ecs:service:DesiredCount');

      const policies = resourcesOf(template, 'AWS::ApplicationAutoScaling::ScalingPolicy').map(([id, r]): any => ({ id, ...r.Properties }));
      assert.equal(policies.length, 2);
      const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
      for (const policy of policies) {
        assert.equal(policy.StepScalingPolicyConfiguration.AdjustmentType, 'ExactCapacity');
        const alarm = alarms.find((a) => a.AlarmActions?.some((x: any) => x.Ref === policy.id));
        assert.ok(alarm, `an alarm drives ${policy.id}`);
        const metricNames = alarm.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric);
        assert.deepEqual(metricNames.map((m: any) => m.MetricName).sort(), ['ActiveJobs', 'WaitingJobs']);
        for (const m of metricNames) {
          assert.equal(m.Namespace, 'Kiln/Queue');
          assert.deepEqual(m.Dimensions, [{ Name: 'Queue', Value: 'training' }]);
        }
      }
      const toZero = policies.find((p) => p.StepScalingPolicyConfiguration.StepAdjustments.some((s: any) => s.ScalingAdjustment === 0))!;
      assert.deepEqual(toZero.StepScalingPolicyConfiguration.StepAdjustments, [{ MetricIntervalUpperBound: 0, ScalingAdjustment: 0 }]);
      const up = policies.find((p) => p !== toZero)!.StepScalingPolicyConfiguration.StepAdjustments;
      // Tasks needed n (alarm threshold 1, so the interval is [n-1, n) above it) sets n tasks.
      assert.deepEqual(up.map((s: any) => s.ScalingAdjustment), [1, 2, 3, 4]);
      assert.equal(up.at(-1).MetricIntervalUpperBound, undefined);
    });

    it('publishes the queue metrics every minute from a Lambda that reads the real wait key', () => {
      const metrics = resourcesOf(template, 'AWS::Lambda::Function').find(([id]) => id.startsWith('QueueMetrics'))![1];
      const env = metrics.Properties.Environment.Variables;
      assert.equal(env.KILN_QUEUE_PREFIX, '{kiln}');
      assert.equal(env.KILN_QUEUE_NAME, 'training');
      assert.equal(env.KILN_METRIC_NAMESPACE, 'Kiln/Queue');
      template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
    });
  });

  describe('alarms', () => {
    it('alarm on failed jobs and on queue age, to an SNS topic', () => {
      const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
      const failed = alarms.find((a) => JSON.stringify(a.Metrics ?? []).includes('FailedJobs'));
      assert.ok(failed, 'failed-jobs alarm');
      assert.ok(failed.Metrics.some((m: any) => m.Expression === 'DIFF(failed)'));
      const age = alarms.find((a) => a.MetricName === 'OldestWaitingJobAgeSeconds');
      assert.ok(age, 'queue-age alarm');
      assert.equal(age.Threshold, 900);
      assert.equal(age.TreatMissingData, 'breaching');
      for (const a of [failed, age]) {
        assert.equal(a.AlarmActions.length, 1);
        assert.match(a.AlarmActions[0].Ref, /^Alarms/);
      }
    });
  });

  it('holds API keys, webhook signing keys and the Redis token in Secrets Manager', () => {
    const secrets = resourcesOf(template, 'AWS::SecretsManager::Secret').map(([id]) => id);
    for (const prefix of ['ApiKeys', 'WebhookSigningKeys', 'RedisAuthToken', 'RedisUrl']) {
      assert.ok(secrets.some((id) => id.startsWith(prefix)), prefix);
    }
  });

  it('rejects options that cannot work, with a message saying how to fix them', () => {
    assert.throws(() => synth({ maxWorkers: 0 }), /maxWorkers must be an integer from 1/);
    assert.throws(() => synth({ shutdownGraceSeconds: 200 }), /shutdownGraceSeconds must be at most 90/);
  });
});
