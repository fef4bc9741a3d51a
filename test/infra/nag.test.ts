import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { type SynthesizedVigia, synthVigia } from './synth.js';

interface ValidationReport {
  pluginReports: {
    pluginName: string;
    violations: { ruleName: string; severity: string; violatingConstructs?: { constructPath: string }[] }[];
  }[];
}

let vigia: SynthesizedVigia;
beforeAll(() => {
  // synthVigia registers AwsSolutionsChecks like bin/app.ts; an unacknowledged error would make synth throw.
  vigia = synthVigia();
});

const describeViolations = (violations: { ruleName: string; violatingResources: { constructPath?: string }[] }[]) =>
  violations.map((v) => `${v.ruleName} @ ${v.violatingResources.map((r) => r.constructPath).join(', ')}`).join('\n');

describe('cdk-nag AwsSolutions', () => {
  it('the validation report of the synth holds no violation', () => {
    const path = join(vigia.outdir, 'validation-report.json');
    expect(existsSync(path), 'synth writes validation-report.json').toBe(true);
    const report = JSON.parse(readFileSync(path, 'utf8')) as ValidationReport;
    const violations = report.pluginReports.flatMap((p) =>
      p.violations.map(
        (v) => `${p.pluginName} ${v.severity} ${v.ruleName} @ ${v.violatingConstructs?.map((c) => c.constructPath).join(', ')}`,
      ),
    );
    expect(violations).toEqual([]);
  });

  it('finds neither an error nor a warning in the app', () => {
    const report = new AwsSolutionsChecks().validateScope(vigia.app);
    const errors = report.violations.filter((v) => v.severity === 'error');
    expect(describeViolations(errors)).toBe('');
    expect(describeViolations(report.violations)).toBe('');
  });

  it('holds with another bootstrap qualifier (the acknowledgements derive it, never hard-code hnb659fds)', () => {
    const other = synthVigia({ '@aws-cdk/core:bootstrapQualifier': 'vigia0001' });
    const report = new AwsSolutionsChecks().validateScope(other.app);
    expect(describeViolations(report.violations)).toBe('');
    expect(JSON.stringify(other.template.toJSON())).toContain('cdk-vigia0001-assets-');
  });

  it('would fail the synth on an unacknowledged finding (the plugin is really wired)', () => {
    const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'vigia-nag-')), builtinCloudFormationValidation: false });
    const stack = new Stack(app, 'Probe');
    new Bucket(stack, 'PlainBucket');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S10/);
  });

  it('every acknowledgement gives a reason', () => {
    const acknowledgements = vigia.stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledgements) {
      expect(reason.length, `${id} needs a real reason`).toBeGreaterThan(30);
    }
  });
});
