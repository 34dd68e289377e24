/**
 * The vocabulary the synthetic events are drawn from: ecosystems (with their registries and URL shapes),
 * users, projects and curation policies. Plausible, not real data.
 */
import type { Prng } from '../common/prng.js';
import type { ConditionCategory } from './types.js';

export interface Ecosystem {
  packageType: string;
  /** The `ecosystem` field public clients show (lower case). */
  ecosystem: string;
  /** Used to name the curated remote repository, e.g. `npm-remote`. */
  repoKey: string;
  publicRepoName: string;
  publicRepoUrl: string;
  packages: readonly string[];
  version(prng: Prng): string;
  packageUrl(name: string, version: string): string;
}

function semver(prng: Prng): string {
  return `${prng.int(0, 9)}.${prng.int(0, 30)}.${prng.int(0, 20)}`;
}

export const ECOSYSTEMS: readonly (readonly [Ecosystem, number])[] = [
  [
    {
      packageType: 'npm',
      ecosystem: 'npm',
      repoKey: 'npm',
      publicRepoName: 'npmjs',
      publicRepoUrl: 'https://registry.npmjs.org',
      packages: ['lodash', 'express', 'react', 'axios', 'left-pad', '@types/node', '@babel/core', 'chalk', 'moment',
        'event-stream', 'ua-parser-js', 'node-ipc', 'colors', 'minimist', 'debug', 'webpack', 'typescript'],
      version: semver,
      packageUrl: (name, version) =>
        `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${version}.tgz`,
    },
    30,
  ],
  [
    {
      packageType: 'PyPI',
      ecosystem: 'pypi',
      repoKey: 'pypi',
      publicRepoName: 'PyPI',
      publicRepoUrl: 'https://files.pythonhosted.org',
      packages: ['requests', 'numpy', 'pandas', 'django', 'flask', 'urllib3', 'pyyaml', 'cryptography', 'boto3',
        'ctx', 'setuptools', 'jinja2', 'pillow'],
      version: semver,
      packageUrl: (name, version) =>
        `https://files.pythonhosted.org/packages/source/${name[0]}/${name}/${name}-${version}.tar.gz`,
    },
    20,
  ],
  [
    {
      packageType: 'Maven',
      ecosystem: 'maven',
      repoKey: 'maven',
      publicRepoName: 'Maven Central',
      publicRepoUrl: 'https://repo1.maven.org/maven2',
      packages: ['org.apache.commons:commons-lang3', 'com.google.guava:guava', 'org.apache.logging.log4j:log4j-core',
        'com.fasterxml.jackson.core:jackson-databind', 'org.springframework:spring-core', 'junit:junit'],
      version: semver,
      packageUrl: (name, version) => {
        const [group = '', artifact = ''] = name.split(':');
        return `https://repo1.maven.org/maven2/${group.replaceAll('.', '/')}/${artifact}/${version}/${artifact}-${version}.jar`;
      },
    },
    15,
  ],
  [
    {
      packageType: 'Docker',
      ecosystem: 'docker',
      repoKey: 'docker',
      publicRepoName: 'Docker Hub',
      publicRepoUrl: 'https://registry-1.docker.io',
      packages: ['library/nginx', 'library/redis', 'library/postgres', 'bitnami/kafka', 'pumevnezdiroorg/drupal',
        'library/alpine', 'grafana/grafana'],
      version: (prng) => prng.pick(['latest', 'alpine', `${prng.int(1, 16)}.${prng.int(0, 9)}`, `${prng.int(1, 3)}.${prng.int(0, 30)}-alpine`]),
      packageUrl: (name, version) => `https://registry-1.docker.io/v2/${name}/manifests/${version}`,
    },
    12,
  ],
  [
    {
      packageType: 'Go',
      ecosystem: 'go',
      repoKey: 'go',
      publicRepoName: 'Go Proxy',
      publicRepoUrl: 'https://proxy.golang.org',
      packages: ['github.com/gin-gonic/gin', 'golang.org/x/net', 'github.com/stretchr/testify', 'github.com/spf13/cobra',
        'google.golang.org/grpc'],
      version: (prng) => `v${semver(prng)}`,
      packageUrl: (name, version) => `https://proxy.golang.org/${name}/@v/${version}.zip`,
    },
    10,
  ],
  [
    {
      packageType: 'NuGet',
      ecosystem: 'nuget',
      repoKey: 'nuget',
      publicRepoName: 'NuGet Gallery',
      publicRepoUrl: 'https://api.nuget.org',
      packages: ['Newtonsoft.Json', 'Serilog', 'AutoMapper', 'Dapper', 'Polly', 'xunit'],
      version: semver,
      packageUrl: (name, version) => {
        const id = name.toLowerCase();
        return `https://api.nuget.org/v3-flatcontainer/${id}/${version}/${id}.${version}.nupkg`;
      },
    },
    8,
  ],
  [
    {
      packageType: 'Gems',
      ecosystem: 'rubygems',
      repoKey: 'gems',
      publicRepoName: 'RubyGems',
      publicRepoUrl: 'https://rubygems.org',
      packages: ['rails', 'nokogiri', 'rack', 'devise', 'puma'],
      version: semver,
      packageUrl: (name, version) => `https://rubygems.org/gems/${name}-${version}.gem`,
    },
    5,
  ],
];

/** `[username, user_mail]`; service accounts have no mail, like the vendor example's `admin`. */
export const USERS: readonly (readonly [string, string])[] = [
  ['admin', ''],
  ['alice.nguyen', 'alice.nguyen@example.com'],
  ['bob.schmidt', 'bob.schmidt@example.com'],
  ['ci-jenkins', ''],
  ['dana.kowalski', 'dana.kowalski@example.com'],
  ['build-bot', 'build-bot@example.com'],
  ['eitan.levi', 'eitan.levi@example.com'],
];

export const PROJECTS = ['default', 'payments', 'platform', 'mobile', 'data'] as const;

export const ORIGIN_SERVERS = ['acme-prod', 'acme-eu', 'z0curdocktest'] as const;

export interface PolicyDefinition {
  policy_name: string;
  policy_id: number;
  condition_name: string;
  condition_category: ConditionCategory;
  /** Restricts the policy to one package type (e.g. Docker-only conditions). */
  onlyFor?: string;
}

export const ENFORCED_POLICIES: readonly PolicyDefinition[] = [
  { policy_name: 'block-malicious', policy_id: 1, condition_name: 'Malicious package', condition_category: 'security' },
  { policy_name: 'critical-cves', policy_id: 2, condition_name: 'CVE with CVSS score of 9 or above (with or without a fix version available)', condition_category: 'security' },
  { policy_name: 'onlyOffical', policy_id: 3, condition_name: 'Image is not Docker Hub official', condition_category: 'operational', onlyFor: 'Docker' },
  { policy_name: 'copyleft-licenses', policy_id: 4, condition_name: 'Package license is copyleft, e.g. "GPL-3.0"', condition_category: 'legal' },
  { policy_name: 'immature-versions', policy_id: 5, condition_name: 'Package version is less than 14 days old', condition_category: 'operational' },
  { policy_name: 'unmaintained', policy_id: 6, condition_name: 'Package is unmaintained, no release in 3 years', condition_category: 'operational' },
  { policy_name: 'no-license', policy_id: 7, condition_name: 'Package has no license', condition_category: 'legal' },
];

export const DRY_RUN_POLICIES: readonly PolicyDefinition[] = [
  { policy_name: 'trial-high-cves', policy_id: 8, condition_name: 'CVE with CVSS score of 7 or above', condition_category: 'security' },
  { policy_name: 'trial-fresh-versions', policy_id: 9, condition_name: 'Package version is less than 30 days old', condition_category: 'operational' },
  { policy_name: 'trial-agpl', policy_id: 10, condition_name: 'Package license is AGPL-3.0', condition_category: 'legal' },
];

/** Assumption: the vendor documents only "Policy violations"; approved events with policies were waived or bypassed. */
export const BLOCKED_REASON = 'Policy violations';
export const APPROVED_REASONS = ['Policy waiver applied', 'Policy bypassed'] as const;
/** Assumption: the reasons of an approved event no policy applied to, and of one that was not inspected. */
export const CLEAN_REASON = 'No policy violations';
export const PASSED_REASON = 'Not inspected';
