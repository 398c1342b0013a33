// Least privilege, proven: every permission a function's code used on the
// emulator (target/least-privilege/uses/*.json, written by the emulator
// suites; see tests/least_privilege.rs) is evaluated against that
// function's policies as CloudFormation creates them from template.yaml
// (target/least-privilege/policies.json, from expand.py), by
// @cloud-copilot/iam-simulate, which evaluates policies the way IAM does
// (actions, resource ARNs, conditions, with AWS's own service data).
//
// Fails when a use is denied (the role lacks what the code does: on AWS it
// would break), and when a statement of the template grants an action no
// use needed (more than the code needs), unless waived in waivers.json
// with the reason. Writes target/least-privilege/report.md.
//
// Usage: node check.mjs DIR   (DIR = target/least-privilege)

import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSimulation } from '@cloud-copilot/iam-simulate';

const dir = process.argv[2];
const ACCOUNT = '123456789012';
const expanded = JSON.parse(readFileSync(join(dir, 'policies.json'), 'utf8'));
const policies = expanded.functions;
// A request's resource policy: the key's, the queue's, or the bucket's (for
// the bucket and every object in it).
const resourcePolicyOf = (arn) =>
  expanded.resources[arn] ?? (arn.startsWith('arn:aws:s3:::') ? expanded.resources[arn.split('/')[0]] : undefined);
const waivers = JSON.parse(readFileSync(new URL('./waivers.json', import.meta.url), 'utf8'));

const seen = new Map();
for (const file of readdirSync(join(dir, 'uses')).filter((f) => f.endsWith('.json'))) {
  for (const u of JSON.parse(readFileSync(join(dir, 'uses', file), 'utf8'))) {
    seen.set(JSON.stringify([u.function, u.action, u.resource, u.context]), u);
  }
}
const uses = [...seen.values()];
if (uses.length === 0) {
  console.error(`no uses in ${dir}/uses: run the emulator suites first (make test-emulator)`);
  process.exit(2);
}

async function allowed(fn, action, resource, context, documents) {
  const r = await runSimulation(
    {
      request: {
        principal: `arn:aws:iam::${ACCOUNT}:role/${fn}Role`,
        action,
        resource: { resource, accountId: ACCOUNT },
        // Every request the SDK makes is over TLS (the buckets deny others).
        contextVariables: { 'aws:SecureTransport': 'true', ...context },
      },
      identityPolicies: documents.map((d, i) => ({ name: d.name ?? `p${i}`, policy: d.policy })),
      resourcePolicy: resourcePolicyOf(resource),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (r.resultType === 'error') throw new Error(`${fn} ${action} ${resource}: ${JSON.stringify(r.errors)}`);
  // A request on "*" (an SMS straight to a phone number names no topic)
  // is evaluated for every resource pattern it could be.
  if (r.resultType === 'wildcard') return r.overallResult === 'Allowed';
  return r.result.analysis.result === 'Allowed';
}

const denied = [];
for (const u of uses) {
  const p = policies[u.function];
  const docs = p ? [...p.authored, ...p.service] : [];
  if (!p || !(await allowed(u.function, u.action, u.resource, u.context, docs))) denied.push(u);
}

// Every action of every statement the template wrote must be needed by a use.
const wildcard = (pattern) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
const unused = [];
const waived = [];
for (const [fn, p] of Object.entries(policies)) {
  for (const doc of p.authored) {
    for (const st of [doc.policy.Statement].flat()) {
      if (st.Effect !== 'Allow') continue;
      for (const action of [st.Action].flat()) {
        const candidates = uses.filter((u) => u.function === fn && wildcard(action).test(u.action));
        let used = false;
        for (const u of candidates) {
          const only = { name: 'only', policy: { Version: '2012-10-17', Statement: [{ ...st, Action: action }] } };
          if (await allowed(fn, u.action, u.resource, u.context, [only])) {
            used = true;
            break;
          }
        }
        if (used) continue;
        const entry = { function: fn, sid: st.Sid ?? doc.name, action, resource: st.Resource };
        const waiver = waivers.find((w) => w.function === fn && w.action === action);
        (waiver ? waived : unused).push({ ...entry, reason: waiver?.reason });
      }
    }
  }
}

const functions = new Set(uses.map((u) => u.function));
const lines = [
  '# Least privilege: what each function used, checked against its role',
  '',
  `${uses.length} distinct uses by ${functions.size} functions, from ${readdirSync(join(dir, 'uses')).length} emulator stacks.`,
  '',
  `Denied (the code needs it, the role lacks it): ${denied.length}`,
  ...denied.map((u) => `- ${u.function}: ${u.action} on ${u.resource} ${JSON.stringify(u.context)} (${u.because})`),
  '',
  `Granted but never used: ${unused.length}`,
  ...unused.map((g) => `- ${g.function} [${g.sid}]: ${g.action} on ${JSON.stringify(g.resource)}`),
  '',
  `Waived (granted, not exercised by the suites, with the reason): ${waived.length}`,
  ...waived.map((g) => `- ${g.function}: ${g.action}: ${g.reason}`),
  '',
  '## Uses by function',
  ...[...functions].sort().flatMap((fn) => [
    '',
    `### ${fn}`,
    ...[...new Set(uses.filter((u) => u.function === fn).map((u) => `- ${u.action} ${u.resource.replace(/\/[^/]*[0-9A-Z]{20,}.*$/, '/…')}`))].sort(),
  ]),
];
writeFileSync(join(dir, 'report.md'), lines.join('\n') + '\n');
console.log(lines.slice(0, 6 + denied.length + 3 + unused.length + 3 + waived.length).join('\n'));
process.exit(denied.length || unused.length ? 1 : 0);
