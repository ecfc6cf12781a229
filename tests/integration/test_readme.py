"""README.md as a new user reads it: its Python example runs as printed, from any directory,
against a gateway; its command examples are copy-pasteable on a fresh checkout; what it says
each venue takes is what the adapters say; every make target it should name, it names."""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from gateway.config import load_config
from gateway.daemon import VENUE_KINDS
from tests.integration.harness import run_gateway

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.M | re.S)


def test_the_python_example_is_a_whole_program_that_runs_from_anywhere(tmp_path):
    [program] = _blocks("python")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "demo.py").write_text(program)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = {}

    async def scenario(gw):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "demo.py", gw.config.server.socket_path, cwd=elsewhere, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        result.update(rc=proc.returncode, out=out.decode(), err=err.decode())

    run_gateway(tmp_path, scenario)
    assert result["rc"] == 0, result["err"]
    ok, price = result["out"].split()
    assert ok == "True" and 3000 < float(price) <= 3003, result["out"]  # bought from the simulated asks

    # without an argument: the embedded config's socket, the same absolute path from any directory
    where = subprocess.run([sys.executable, "-c", "from gateway.config import load_config; "
                            "print(load_config().server.socket_path)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(ROOT / "run" / "gateway.sock") == load_config().server.socket_path
    assert "load_config().server.socket_path" in program


def test_command_examples_are_copy_pasteable_on_a_fresh_checkout():
    """`make run` installs the command in .venv/bin only: every shell block says so, and the
    README says it before any bare `gateway ...` (which then reads as: after activating)."""
    lines = [line for block in _blocks("sh") for line in block.splitlines()]
    bare = [line for line in lines if re.match(r"\s*gateway\b", line)]
    assert bare == [], bare
    assert any(line.startswith(".venv/bin/gateway status") for line in lines)
    said = README.index("**The command is `.venv/bin/gateway`**")
    first_bare = re.search(r"`gateway [a-z]", README).start()
    assert said < first_bare
    assert ". .venv/bin/activate" in README[said:said + 600]
    assert "`gateway status` shows it is healthy" not in README


def _capability_table() -> dict[str, dict[str, str]]:
    head = "| venue | market (no price) |"
    start = README.index(head)
    rows = README[start:].split("\n\n", 1)[0].splitlines()
    columns = [c.strip() for c in rows[0].strip("|").split("|")]
    return {cells[0]: dict(zip(columns[1:], cells[1:]))
            for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows[2:])}


COLUMNS = {"market (no price)": "market_orders", "`--post-only`": "post_only", "`--reduce-only`": "reduce_only",
           "`--stop-price`": "stop_orders", "`modify`": "modify", "`replace`": "cancel_replace",
           "`place-group`": "order_groups"}
ADAPTERS = {config.__struct_config__.tag: adapter for config, (adapter, _sim) in VENUE_KINDS.items()}


def test_the_venue_table_says_what_each_adapter_takes():
    table = _capability_table()
    assert set(table) == set(ADAPTERS)
    wrong = []
    for venue, cells in table.items():
        assert set(cells) == set(COLUMNS), cells
        caps = ADAPTERS[venue].capabilities
        for column, flag in COLUMNS.items():
            says = cells[column].split()[0]
            assert says in ("yes", "no"), (venue, column, cells[column])
            if (says == "yes") != getattr(caps, flag):
                wrong.append((venue, column, cells[column], getattr(caps, flag)))
    assert wrong == []


FLAGS = {"--post-only": "post_only", "--reduce-only": "reduce_only", "--stop-price": "stop_orders",
         "stop=": "stop_orders", "post_only": "post_only", "reduce_only": "reduce_only"}


def test_every_order_example_uses_only_options_its_venue_takes():
    examples = re.findall(r"gateway order (place|place-group) (\w+) ([^`|\n]*)", README)
    assert len(examples) >= 4
    wrong = []
    for action, venue, rest in examples:
        if venue not in ADAPTERS:
            continue  # a placeholder such as VENUE
        caps = ADAPTERS[venue].capabilities
        if action == "place-group" and not caps.order_groups:
            wrong.append((venue, "place-group"))
        # options shown as possible ([...]) or used; place-group's `leg options` list is generic
        shown = rest.split("(`if_then`")[0]
        for flag, capability in FLAGS.items():
            if flag in shown and not getattr(caps, capability):
                wrong.append((venue, flag))
    assert wrong == []


def test_make_targets_a_user_runs_are_in_the_readme():
    makefile = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split()
    missing = [t for t in phony if t not in ("clean", "test-deps") and f"make {t}" not in README]
    assert missing == []
