// validate.mjs - every GraphQL query ghaminer can send, checked against GitHub's
// published schema (@octokit/graphql-schema), which we did not write: a field or argument
// that only our simulator knows cannot pass. Usage: node validate.mjs QUERIES_PROGRAM
// (a program that prints the queries as a JSON array of strings).
import { execFileSync } from "node:child_process";
import { validate } from "@octokit/graphql-schema";

const program = process.argv[2];
if (!program) {
  console.error("usage: node validate.mjs QUERIES_PROGRAM");
  process.exit(2);
}
const queries = JSON.parse(execFileSync(program, { encoding: "utf8" }));
let failed = 0;

// The check must be able to fail: a query with a field GitHub does not have.
const control = queries[0].replace("checkRuns(", "checkRunz(");
if (validate(control).length === 0) {
  console.error("FAIL the schema accepted a wrong field (checkRunz): the check proves nothing");
  failed++;
}
if (queries.length < 3) {
  console.error(`FAIL only ${queries.length} queries listed`);
  failed++;
}
for (const [i, q] of queries.entries()) {
  const errors = validate(q);
  if (errors.length) {
    failed++;
    console.error(`FAIL query ${i}: ${errors.map((e) => e.message).join("; ")}\n  ${q}`);
  } else {
    console.log(`ok   query ${i} (${q.length} characters) is valid against GitHub's schema`);
  }
}
if (failed) process.exit(1);
console.log(`PASS ${queries.length} queries valid against @octokit/graphql-schema`);
