"""The exported Kyverno regexes evaluated by Go's ``regexp``, the engine behind Kyverno's ``regex_match``:
on every tricky image of the shared table the Kyverno policy gives harbourmaster's answer (the one
documented gap aside: names over 255 characters)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from harbourmaster.domain.exports.kyverno import kyverno_policy
from tests.components import ensure_binary
from tests.domain._bypass_cases import IMAGES, TENANTS, source_allowed
from tests.domain.test_exports import KYVERNO_KNOWN_GAP, kyverno_allows, rules_of

pytestmark = pytest.mark.integration

GO_MATCHER = """
package main

import (
	"encoding/json"
	"os"
	"regexp"
)

type pair struct {
	Regex string `json:"regex"`
	Image string `json:"image"`
}

func main() {
	var pairs []pair
	if err := json.NewDecoder(os.Stdin).Decode(&pairs); err != nil {
		panic(err)
	}
	out := make([]bool, len(pairs))
	compiled := map[string]*regexp.Regexp{}
	for i, p := range pairs {
		re, ok := compiled[p.Regex]
		if !ok {
			re = regexp.MustCompile(p.Regex)
			compiled[p.Regex] = re
		}
		out[i] = re.MatchString(p.Image)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
"""


def test_kyverno_regexes_on_go_regexp_give_harbourmasters_answer(tmp_path: Path) -> None:
    go = ensure_binary("go", "golang-go")
    source = tmp_path / "match.go"
    source.write_text(GO_MATCHER)
    policies = {env: kyverno_policy(rules_of(env), failure_policy="Fail") for env, _ in TENANTS}
    regexes = sorted(
        {
            found
            for policy in policies.values()
            for rule in policy["spec"]["rules"]
            if "validate" in rule
            for each in rule["validate"]["foreach"]
            for group in each["deny"].get("conditions", {}).values()
            for condition in group
            for found in re.findall(r"regex_match\('(.*)', element\.image", condition["key"])
        }
    )
    pairs = [{"regex": r, "image": i} for r in regexes for i in IMAGES]
    env = dict(
        os.environ, GOCACHE=str(tmp_path / "gocache"), GOPATH=str(tmp_path / "gopath"), GO111MODULE="off"
    )
    run = subprocess.run(
        [go, "run", str(source)],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    by_go = {(p["regex"], p["image"]): m for p, m in zip(pairs, json.loads(run.stdout), strict=True)}

    differences = set()
    for environment, namespace in TENANTS:
        for image in IMAGES:
            allowed = kyverno_allows(
                policies[environment], namespace, image, matches=lambda regex, text: by_go[(regex, text)]
            )
            if allowed != source_allowed(environment, namespace, image):
                differences.add(image)
    assert differences == KYVERNO_KNOWN_GAP
