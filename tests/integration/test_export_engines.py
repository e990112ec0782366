"""The exported Kyverno policy evaluated with Go's ``regexp``, the engine behind Kyverno's ``regex_match``
and ``regex_replace_all``: on every tricky image of the shared table, and on names around the
255-character limit, the Kyverno policy gives harbourmaster's answer, with no exception."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from harbourmaster.domain.exports.kyverno import NAME_LENGTH_KEY, kyverno_policy
from harbourmaster.domain.reference import ReferenceError, parse_reference
from tests.components import ensure_binary
from tests.domain._bypass_cases import IMAGES, TENANTS, source_allowed
from tests.domain._kyverno_emulation import PythonGoRegex, evaluate_key, kyverno_allows
from tests.domain.test_exports import LONG_NAMES, rules_of

pytestmark = pytest.mark.integration

#: Kyverno's two regex functions (pkg/engine/jmespath: ``regexp.Match`` and ``Regexp.ReplaceAll``),
#: answering one JSON request a line.
GO_REGEX = """
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
)

type request struct {
	Op    string `json:"op"`
	Regex string `json:"regex"`
	Src   string `json:"src"`
	Repl  string `json:"repl"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		var r request
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			panic(err)
		}
		re := regexp.MustCompile(r.Regex)
		if r.Op == "match" {
			enc.Encode(re.Match([]byte(r.Src)))
		} else {
			enc.Encode(string(re.ReplaceAll([]byte(r.Src), []byte(r.Repl))))
		}
		out.Flush()
	}
}
"""


class GoRegex:
    """A :class:`~tests.domain._kyverno_emulation.RegexEngine` answered by a Go process."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.answers: dict[tuple[str, str, str, str], object] = {}

    def _ask(self, op: str, regex: str, src: str, repl: str = "") -> object:
        key = (op, regex, src, repl)
        if key not in self.answers:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(json.dumps({"op": op, "regex": regex, "src": src, "repl": repl}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
            assert line, "the Go matcher stopped"
            self.answers[key] = json.loads(line)
        return self.answers[key]

    def match(self, regex: str, text: str) -> bool:
        answer = self._ask("match", regex, text)
        assert isinstance(answer, bool)
        return answer

    def replace_all(self, regex: str, text: str, template: str) -> str:
        answer = self._ask("replace", regex, text, template)
        assert isinstance(answer, str)
        return answer


@pytest.fixture(scope="module")
def go_regex(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoRegex]:
    go = ensure_binary("go", "golang-go")
    work = tmp_path_factory.mktemp("go-regex")
    (work / "regex.go").write_text(GO_REGEX)
    env = dict(os.environ, GOCACHE=str(work / "gocache"), GOPATH=str(work / "gopath"), GO111MODULE="off")
    build = subprocess.run(
        [go, "build", "-o", str(work / "regex"), str(work / "regex.go")],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    process = subprocess.Popen(
        [str(work / "regex")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
    )
    try:
        yield GoRegex(process)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)


def test_kyverno_policy_on_go_regexp_gives_harbourmasters_answer(go_regex: GoRegex) -> None:
    policies = {env: kyverno_policy(rules_of(env), failure_policy="Fail") for env, _ in TENANTS}
    differences = set()
    for environment, namespace in TENANTS:
        for image in (*IMAGES, *LONG_NAMES):
            allowed = kyverno_allows(policies[environment], namespace, image, engine=go_regex)
            if allowed != source_allowed(environment, namespace, image):
                differences.add((environment, namespace, image))
    assert differences == set()


def test_the_name_length_key_on_go_regexp(go_regex: GoRegex) -> None:
    for image in (*IMAGES, *LONG_NAMES):
        try:
            expected = len(parse_reference(image).repository)
        except ReferenceError:
            continue
        assert evaluate_key(NAME_LENGTH_KEY, image, go_regex) == expected, image


def test_the_python_emulation_answered_as_go_did(go_regex: GoRegex) -> None:
    """Every call Go answers on the table, asked again of the Python emulation the domain tests use."""
    for environment, namespace in TENANTS:
        policy = kyverno_policy(rules_of(environment), failure_policy="Fail")
        for image in (*IMAGES, *LONG_NAMES):
            kyverno_allows(policy, namespace, image, engine=go_regex)
    assert len(go_regex.answers) > 1000
    python = PythonGoRegex()
    for (op, regex, src, repl), answer in go_regex.answers.items():
        mine = python.match(regex, src) if op == "match" else python.replace_all(regex, src, repl)
        assert mine == answer, (op, regex, src, repl)
