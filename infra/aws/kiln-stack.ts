import { join, resolve } from 'node:path';
import {
  CfnOutput,
  Duration,
  Fn,
  RemovalPolicy,
  SecretValue,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import type { Construct } from 'constructs';
import { ApiLocalBundling } from './api-local-bundling';
import { QUEUE_METRIC_DIMENSION, QUEUE_METRIC_NAMES } from './queue-gauges';

const REPO_ROOT = resolve(__dirname, '..', '..');

/** Options of {@link KilnStack}. Every field has a default, so `new KilnStack(app, 'Kiln')` deploys. */
export interface KilnStackProps extends StackProps {
  /**
   * Code of the API Lambda; its handler is `dist/api/lambda.handler`.
   * @defaultValue the bundle built by `infra/aws/bundle-api.sh` (locally, or in the Lambda Node.js
   *   build image when npm is not available)
   */
  readonly apiCode?: lambda.Code;
  /**
   * Image of the GPU worker.
   * @defaultValue the Dockerfile's `worker-gpu` target, built and pushed to ECR by `cdk deploy`
   */
  readonly workerImage?: ecs.ContainerImage;
  /** Memory of the API Lambda in MiB. @defaultValue 1024 */
  readonly apiMemoryMiB?: number;
  /** EC2 instance type of the GPU workers (one GPU per task). @defaultValue `g4dn.xlarge` */
  readonly gpuInstanceType?: string;
  /** Most GPU worker tasks (and instances) at once. @defaultValue 4 */
  readonly maxWorkers?: number;
  /** Jobs one worker trains at once (`KILN_WORKER_CONCURRENCY`). @defaultValue 1 */
  readonly workerConcurrency?: number;
  /** Worker's graceful-stop window (`KILN_SHUTDOWN_GRACE_SECONDS`). @defaultValue 60 */
  readonly shutdownGraceSeconds?: number;
  /** ElastiCache node type. @defaultValue `cache.t4g.medium` */
  readonly redisNodeType?: string;
  /** BullMQ key prefix (`KILN_QUEUE_PREFIX`); keep the braces so Redis Cluster works. @defaultValue `{kiln}` */
  readonly queuePrefix?: string;
  /** Alarm when the oldest waiting job is older than this. @defaultValue 15 minutes */
  readonly maxQueueAge?: Duration;
  /** E-mail subscribed to the alarm topic. @defaultValue none (subscribe later) */
  readonly alarmEmail?: string;
}

/**
 * Kiln on AWS: artifact bucket, ElastiCache Redis for BullMQ, the API as a Lambda behind an HTTP
 * API, GPU workers on ECS that scale with the training queue down to zero, secrets and alarms.
 *
 * Environment-agnostic and free of context lookups, so it synthesises offline.
 */
export class KilnStack extends Stack {
  /** Artifact bucket (`KILN_STORE=s3://<bucket>/kiln`). */
  readonly bucket: s3.Bucket;
  /** The API Lambda. */
  readonly apiFunction: lambda.Function;
  /** The GPU worker service. */
  readonly workerService: ecs.Ec2Service;

  constructor(scope: Construct, id: string, props: KilnStackProps = {}) {
    super(scope, id, props);

    const queueName = 'training';
    const queuePrefix = props.queuePrefix ?? '{kiln}';
    const metricNamespace = 'Kiln/Queue';
    const storePrefix = 'kiln';
    const maxWorkers = props.maxWorkers ?? 4;
    const workerConcurrency = props.workerConcurrency ?? 1;
    const graceSeconds = props.shutdownGraceSeconds ?? 60;
    if (!Number.isInteger(maxWorkers) || maxWorkers < 1 || maxWorkers > 38) {
      throw new Error(`maxWorkers must be an integer from 1 to 38 (one scaling step each), got ${maxWorkers}`);
    }
    if (graceSeconds + 30 > 120) {
      throw new Error(
        `shutdownGraceSeconds must be at most 90: ECS on EC2 stops a container at most 120 s after SIGTERM ` +
          `and the worker needs headroom to hand its job back, got ${graceSeconds}`,
      );
    }

    // ---- Network -------------------------------------------------------------------------------
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
    });
    // Checkpoints are the bulk of the traffic: keep them off the NAT gateway.
    vpc.addGatewayEndpoint('S3Endpoint', { service: ec2.GatewayVpcEndpointAwsService.S3 });

    // ---- Artifact bucket -----------------------------------------------------------------------
    this.bucket = new s3.Bucket(this, 'Artifacts', {
      versioned: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          // Each epoch's backup overwrites the last one; versioning keeps the old copies, which are
          // only worth keeping briefly.
          id: 'expire-old-checkpoint-versions',
          noncurrentVersionExpiration: Duration.days(7),
          noncurrentVersionsToRetain: 2,
          abortIncompleteMultipartUploadAfter: Duration.days(2),
          expiredObjectDeleteMarker: false,
        },
      ],
    });
    const store = `s3://${this.bucket.bucketName}/${storePrefix}`;
    // Run artifacts live at <prefix>/<tenant>/runs/<runId>/...
    const runObjects = this.bucket.arnForObjects('*/runs/*');

    // ---- Secrets -------------------------------------------------------------------------------
    const apiKeys = new secretsmanager.Secret(this, 'ApiKeys', {
      description: 'Kiln KILN_API_KEYS: tenant:key,tenant:key. Replace the generated value before use.',
      generateSecretString: { excludePunctuation: true, passwordLength: 48 },
    });
    const webhookSecret = new secretsmanager.Secret(this, 'WebhookSigningKeys', {
      description: 'Kiln KILN_WEBHOOK_SECRET: Standard Webhooks signing secrets (whsec_...), space-separated during rotation.',
      generateSecretString: { excludePunctuation: true, passwordLength: 48 },
    });
    const redisAuth = new secretsmanager.Secret(this, 'RedisAuthToken', {
      description: 'ElastiCache AUTH token for Kiln Redis',
      generateSecretString: { excludePunctuation: true, passwordLength: 64 },
    });

    // ---- Redis (ElastiCache) -------------------------------------------------------------------
    const redisSg = new ec2.SecurityGroup(this, 'RedisSg', {
      vpc,
      description: 'Kiln Redis: reachable only from the API, the workers and the queue metrics Lambda',
      allowAllOutbound: false,
    });
    const redisSubnets = new elasticache.CfnSubnetGroup(this, 'RedisSubnets', {
      description: 'Kiln Redis private subnets',
      subnetIds: vpc.privateSubnets.map((s) => s.subnetId),
    });
    const redisParams = new elasticache.CfnParameterGroup(this, 'RedisParams', {
      cacheParameterGroupFamily: 'redis7',
      description: 'Kiln BullMQ: never evict keys',
      // BullMQ stores jobs and locks as keys; eviction would silently lose jobs.
      properties: { 'maxmemory-policy': 'noeviction' },
    });
    // ElastiCache does not offer AOF on Redis >= 2.8.22; durability comes from a Multi-AZ replica with
    // automatic failover plus daily snapshots (see infra/README.md).
    const redis = new elasticache.CfnReplicationGroup(this, 'Redis', {
      replicationGroupDescription: 'Kiln BullMQ queues',
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: props.redisNodeType ?? 'cache.t4g.medium',
      numCacheClusters: 2,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      cacheParameterGroupName: redisParams.ref,
      cacheSubnetGroupName: redisSubnets.ref,
      securityGroupIds: [redisSg.securityGroupId],
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      authToken: redisAuth.secretValue.unsafeUnwrap(),
      snapshotRetentionLimit: 7,
      port: 6379,
    });
    redis.applyRemovalPolicy(RemovalPolicy.SNAPSHOT);
    const redisUrl = new secretsmanager.Secret(this, 'RedisUrl', {
      description: 'Kiln REDIS_URL (rediss://:token@primary:port)',
      secretStringValue: SecretValue.unsafePlainText(
        Fn.join('', [
          'rediss://:',
          redisAuth.secretValue.unsafeUnwrap(),
          '@',
          redis.attrPrimaryEndPointAddress,
          ':',
          redis.attrPrimaryEndPointPort,
        ]),
      ),
    });

    const commonEnv = {
      KILN_STORE: store,
      KILN_QUEUE_PREFIX: queuePrefix,
      LOG_LEVEL: 'info',
    };

    // ---- API: Lambda + HTTP API ----------------------------------------------------------------
    const apiSg = new ec2.SecurityGroup(this, 'ApiSg', { vpc, description: 'Kiln API Lambda' });
    const apiCode =
      props.apiCode ??
      lambda.Code.fromAsset(REPO_ROOT, {
        bundling: {
          image: lambda.Runtime.NODEJS_22_X.bundlingImage,
          command: ['bash', 'infra/aws/bundle-api.sh', '/asset-output'],
          environment: { HOME: '/tmp', npm_config_cache: '/tmp/.npm' },
          local: new ApiLocalBundling(REPO_ROOT),
        },
      });
    this.apiFunction = new lambda.Function(this, 'Api', {
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'dist/api/lambda.handler',
      code: apiCode,
      memorySize: props.apiMemoryMiB ?? 1024,
      // API Gateway HTTP APIs give up after 30 s.
      timeout: Duration.seconds(29),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [apiSg],
      logGroup: new logs.LogGroup(this, 'ApiLogs', { retention: logs.RetentionDays.ONE_MONTH }),
      environment: {
        ...commonEnv,
        AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1',
        // Lambda has no native secret injection: CloudFormation resolves these dynamic references at
        // deploy time. infra/README.md explains the trade-off and the rotation step.
        REDIS_URL: redisUrl.secretValue.unsafeUnwrap(),
        KILN_API_KEYS: apiKeys.secretValue.unsafeUnwrap(),
        KILN_WEBHOOK_SECRET: webhookSecret.secretValue.unsafeUnwrap(),
      },
    });
    // The API reads run artifacts; it never writes or deletes them.
    this.apiFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [runObjects] }),
    );
    this.apiFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }),
    );
    redisSg.addIngressRule(apiSg, ec2.Port.tcp(6379), 'API Lambda to Redis');

    const httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'Kiln API',
      defaultIntegration: new HttpLambdaIntegration('ApiIntegration', this.apiFunction, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
    });
    // Behind API Gateway the API sees plain HTTP: its served OpenAPI document must name the public
    // https endpoint for Swagger UI to work (api/public-origin.ts does not trust X-Forwarded-*).
    this.apiFunction.addEnvironment('KILN_PUBLIC_URL', httpApi.apiEndpoint);

    // ---- Queue metrics publisher ---------------------------------------------------------------
    const metricsSg = new ec2.SecurityGroup(this, 'QueueMetricsSg', { vpc, description: 'Kiln queue metrics Lambda' });
    const metricsFunction = new nodejs.NodejsFunction(this, 'QueueMetrics', {
      entry: join(__dirname, 'queue-metrics-handler.ts'),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(20),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [metricsSg],
      logGroup: new logs.LogGroup(this, 'QueueMetricsLogs', { retention: logs.RetentionDays.TWO_WEEKS }),
      bundling: { target: 'node22', minify: true, sourceMap: false },
      environment: {
        REDIS_URL: redisUrl.secretValue.unsafeUnwrap(),
        KILN_QUEUE_PREFIX: queuePrefix,
        KILN_QUEUE_NAME: queueName,
        KILN_METRIC_NAMESPACE: metricNamespace,
      },
    });
    redisSg.addIngressRule(metricsSg, ec2.Port.tcp(6379), 'Queue metrics Lambda to Redis');
    new events.Rule(this, 'QueueMetricsSchedule', {
      description: 'Publish Kiln queue sizes every minute',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(metricsFunction, { retryAttempts: 0 })],
    });

    const queueMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: metricNamespace,
        metricName,
        dimensionsMap: { [QUEUE_METRIC_DIMENSION]: queueName },
        statistic,
        period: Duration.minutes(1),
      });
    const waitingJobs = queueMetric(QUEUE_METRIC_NAMES.waiting, 'Maximum');
    const activeJobs = queueMetric(QUEUE_METRIC_NAMES.active, 'Maximum');

    // ---- GPU workers on ECS --------------------------------------------------------------------
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    const workerSg = new ec2.SecurityGroup(this, 'WorkerSg', { vpc, description: 'Kiln GPU workers' });
    redisSg.addIngressRule(workerSg, ec2.Port.tcp(6379), 'Workers to Redis');

    const instanceRole = new iam.Role(this, 'GpuInstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonEC2ContainerServiceforEC2Role'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'),
      ],
    });
    const launchTemplate = new ec2.LaunchTemplate(this, 'GpuLaunchTemplate', {
      instanceType: new ec2.InstanceType(props.gpuInstanceType ?? 'g4dn.xlarge'),
      // The ECS GPU AMI ships the NVIDIA driver and container runtime; resolved from SSM at deploy.
      machineImage: ecs.EcsOptimizedImage.amazonLinux2(ecs.AmiHardwareType.GPU),
      role: instanceRole,
      securityGroup: workerSg,
      userData: ec2.UserData.forLinux(),
      requireImdsv2: true,
      blockDevices: [
        { deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(100, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }) },
      ],
    });
    const gpuAsg = new autoscaling.AutoScalingGroup(this, 'GpuAsg', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      launchTemplate,
      minCapacity: 0,
      maxCapacity: maxWorkers,
    });
    const capacityProvider = new ecs.AsgCapacityProvider(this, 'GpuCapacity', {
      autoScalingGroup: gpuAsg,
      enableManagedScaling: true,
      // An instance that still runs a training task is never terminated by scale-in.
      enableManagedTerminationProtection: true,
      targetCapacityPercent: 100,
    });
    cluster.addAsgCapacityProvider(capacityProvider);

    const taskDefinition = new ecs.Ec2TaskDefinition(this, 'WorkerTask', {
      networkMode: ecs.NetworkMode.AWS_VPC,
    });
    // Workers read datasets anywhere in the store and write only run artifacts.
    taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [this.bucket.arnForObjects('*')] }),
    );
    taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [runObjects],
      }),
    );
    taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }),
    );
    const workerImage =
      props.workerImage ??
      ecs.ContainerImage.fromAsset(REPO_ROOT, { target: 'worker-gpu', platform: Platform.LINUX_AMD64 });
    taskDefinition.addContainer('worker', {
      image: workerImage,
      gpuCount: 1,
      memoryReservationMiB: 12 * 1024,
      essential: true,
      // ECS sends SIGTERM, waits stopTimeout, then SIGKILL: leave room beyond the worker's grace.
      stopTimeout: Duration.seconds(graceSeconds + 30),
      environment: {
        ...commonEnv,
        AWS_REGION: this.region,
        KILN_BACKEND: 'node-gpu',
        KILN_REQUIRE_GPU: 'true',
        KILN_WORKER_CONCURRENCY: String(workerConcurrency),
        KILN_SHUTDOWN_GRACE_SECONDS: String(graceSeconds),
        KILN_WORKER_HEALTH_PORT: '8081',
        // Links in webhook payloads point at the public API.
        KILN_PUBLIC_URL: httpApi.apiEndpoint,
      },
      secrets: {
        REDIS_URL: ecs.Secret.fromSecretsManager(redisUrl),
        KILN_WEBHOOK_SECRET: ecs.Secret.fromSecretsManager(webhookSecret),
      },
      healthCheck: {
        command: ['CMD', 'node', 'infra/docker/healthcheck.js', 'KILN_WORKER_HEALTH_PORT', '8081', '/healthz'],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(120),
      },
      linuxParameters: new ecs.LinuxParameters(this, 'WorkerLinux', { initProcessEnabled: true }),
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'worker',
        logGroup: new logs.LogGroup(this, 'WorkerLogs', { retention: logs.RetentionDays.ONE_MONTH }),
      }),
    });

    this.workerService = new ecs.Ec2Service(this, 'WorkerService', {
      cluster,
      taskDefinition,
      desiredCount: 0,
      securityGroups: [workerSg],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      capacityProviderStrategies: [{ capacityProvider: capacityProvider.capacityProviderName, weight: 1 }],
      // A rollout starts new tasks before stopping old ones, which then stop gracefully.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
    });

    // Scale on the work that needs a worker: waiting + active jobs, divided by per-task
    // concurrency. Counting active jobs keeps busy workers alive after the wait list drains. No FILL:
    // when the publisher stops, the alarms see no data and leave the task count alone.
    const tasksNeeded = new cloudwatch.MathExpression({
      expression: `CEIL((waiting + active) / ${workerConcurrency})`,
      usingMetrics: { waiting: waitingJobs, active: activeJobs },
      label: 'WorkerTasksNeeded',
      period: Duration.minutes(1),
    });
    const scalingTarget = new appscaling.ScalableTarget(this, 'WorkerScaling', {
      serviceNamespace: appscaling.ServiceNamespace.ECS,
      scalableDimension: 'ecs:service:DesiredCount',
      resourceId: `service/${cluster.clusterName}/${this.workerService.serviceName}`,
      minCapacity: 0,
      maxCapacity: maxWorkers,
      role: iam.Role.fromRoleArn(
        this,
        'EcsScalingRole',
        `arn:${this.partition}:iam::${this.account}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService`,
      ),
    });
    // Two non-overlapping step policies on the same integer metric, both setting an exact task
    // count: "n >= 1 tasks needed" sets n (capped at maxWorkers), "0 needed" sets 0. CloudWatch keeps
    // invoking a policy while its alarm stays in ALARM, so the count follows the queue.
    const scaleToNeed = new appscaling.StepScalingAction(this, 'ScaleToQueue', {
      scalingTarget,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
      cooldown: Duration.minutes(2),
    });
    for (let n = 1; n < maxWorkers; n++) {
      scaleToNeed.addAdjustment({ lowerBound: n - 1, upperBound: n, adjustment: n });
    }
    scaleToNeed.addAdjustment({ lowerBound: maxWorkers - 1, adjustment: maxWorkers });
    new cloudwatch.Alarm(this, 'WorkScalingAlarm', {
      alarmDescription: 'Training jobs need workers: set the GPU task count to the jobs waiting or running',
      metric: tasksNeeded,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    }).addAlarmAction(new cwActions.ApplicationScalingAction(scaleToNeed));

    const scaleToZero = new appscaling.StepScalingAction(this, 'ScaleToZero', {
      scalingTarget,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
      cooldown: Duration.minutes(5),
    });
    scaleToZero.addAdjustment({ upperBound: 0, adjustment: 0 });
    new cloudwatch.Alarm(this, 'IdleScalingAlarm', {
      alarmDescription: 'No training job waits or runs: stop every GPU worker',
      metric: tasksNeeded,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
      // Ten idle minutes before giving the instances back avoids paying for a cold start per job.
      evaluationPeriods: 10,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    }).addAlarmAction(new cwActions.ApplicationScalingAction(scaleToZero));

    // ---- Alarms --------------------------------------------------------------------------------
    const alarmTopic = new sns.Topic(this, 'Alarms', { displayName: 'Kiln alarms', enforceSSL: true });
    if (props.alarmEmail) alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    const notify = new cwActions.SnsAction(alarmTopic);

    const failedJobs = queueMetric(QUEUE_METRIC_NAMES.failed, 'Maximum');
    new cloudwatch.Alarm(this, 'FailedJobsAlarm', {
      alarmDescription: 'Training jobs failed in the last 5 minutes',
      metric: new cloudwatch.MathExpression({
        expression: 'DIFF(failed)',
        usingMetrics: { failed: failedJobs.with({ period: Duration.minutes(5) }) },
        label: 'NewlyFailedJobs',
        period: Duration.minutes(5),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(notify);

    const maxQueueAge = props.maxQueueAge ?? Duration.minutes(15);
    new cloudwatch.Alarm(this, 'QueueAgeAlarm', {
      alarmDescription: `Oldest waiting training job is older than ${maxQueueAge.toMinutes()} minutes`,
      metric: queueMetric(QUEUE_METRIC_NAMES.oldestWaitingAgeSeconds, 'Maximum'),
      threshold: maxQueueAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      // No data means the publisher is down and scaling is blind: that is an alarm too.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    }).addAlarmAction(notify);

    new cloudwatch.Alarm(this, 'QueueMetricsErrorsAlarm', {
      alarmDescription: 'The queue metrics Lambda fails: worker scaling is blind',
      metric: metricsFunction.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(notify);

    new cloudwatch.Alarm(this, 'ApiErrorsAlarm', {
      alarmDescription: 'The API Lambda fails (errors, not 4xx answers)',
      metric: this.apiFunction.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(notify);

    // ---- Outputs -------------------------------------------------------------------------------
    new CfnOutput(this, 'ApiUrl', { value: httpApi.apiEndpoint });
    new CfnOutput(this, 'ArtifactStore', { value: store });
    new CfnOutput(this, 'ApiKeysSecretArn', { value: apiKeys.secretArn });
    new CfnOutput(this, 'WebhookSecretArn', { value: webhookSecret.secretArn });
    new CfnOutput(this, 'WorkerServiceName', { value: this.workerService.serviceName });
    new CfnOutput(this, 'ClusterName', { value: cluster.clusterName });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarmTopic.topicArn });
  }
}
