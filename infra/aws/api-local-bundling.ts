import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { ILocalBundling } from 'aws-cdk-lib';

/**
 * Builds the API Lambda bundle on the deploying machine with `infra/aws/bundle-api.sh`, so
 * `cdk deploy` needs Docker only for the worker image, not for the API.
 */
export class ApiLocalBundling implements ILocalBundling {
  /** @param repoRoot - the repository root (where package.json and the sources are) */
  constructor(private readonly repoRoot: string) {}

  tryBundle(outputDir: string): boolean {
    try {
      execFileSync('npm', ['--version'], { stdio: 'ignore' });
    } catch {
      // No npm here: CDK falls back to the Docker build image.
      return false;
    }
    execFileSync('bash', [join(this.repoRoot, 'infra', 'aws', 'bundle-api.sh'), outputDir], {
      cwd: this.repoRoot,
      stdio: ['ignore', process.stderr, process.stderr],
    });
    return true;
  }
}
