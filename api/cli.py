"""The ``statbus`` command."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence
from typing import Any

import trio

from pipeline import __version__
from pipeline.config import Config, ConfigError, load, passwords, to_toml

EXIT_CONFIG = 2
#: hash-password: the two passwords typed differ, or none was given
EXIT_PASSWORD = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statbus",
        description="A light host monitor serving the Glances REST API v4.",
    )
    parser.add_argument("--version", action="version", version=f"statbus {__version__}")
    parser.add_argument("--config", metavar="PATH", help="TOML configuration file")
    parser.add_argument("--bind", metavar="ADDRESS", help="API bind address (api.bind)")
    parser.add_argument("--port", metavar="PORT", help="API port, 0 for any free one (api.port)")
    parser.add_argument(
        "--refresh", metavar="SECONDS", help="default refresh interval (global.refresh)"
    )
    parser.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run statbus (the default)")
    check = sub.add_parser(
        "check-config", help="validate a configuration and print the effective one"
    )
    check.add_argument("path", nargs="?", metavar="PATH", help="TOML file (default: --config)")
    hasher = sub.add_parser(
        "hash-password",
        help="print a salted hash of a password, for api.password",
        description="Print a salted PBKDF2-SHA256 hash of a password for api.password. "
        "The password is asked twice at a terminal, else read from the first line of "
        "standard input; never from the command line.",
    )
    hasher.add_argument(
        "--iterations",
        metavar="N",
        help=f"PBKDF2 iterations (default {passwords.DEFAULT_ITERATIONS}; "
        f"{passwords.MIN_ITERATIONS}-{passwords.MAX_ITERATIONS})",
    )
    return parser


def _number(flag: str, text: str, kind: type[Any]) -> Any:
    try:
        return kind(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ConfigError(flag, text, f"must be {noun}") from None


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ns.bind is not None:
        out["api.bind"] = ns.bind
    if ns.port is not None:
        out["api.port"] = _number("--port", ns.port, int)
    if ns.refresh is not None:
        out["global.refresh"] = _number("--refresh", ns.refresh, float)
    if ns.log_level is not None:
        out["global.log_level"] = ns.log_level.upper()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    if ns.command == "hash-password":
        return _hash_password(ns)
    path = getattr(ns, "path", None) or ns.config
    try:
        config = load(path, _overrides(ns))
    except ConfigError as exc:
        print(f"statbus: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if ns.command == "check-config":
        print(f"# effective configuration ({config.source or 'built-in defaults'})")
        print(to_toml(config), end="")
        return 0
    return _run(config, ns)


def _hash_password(ns: argparse.Namespace) -> int:
    """``statbus hash-password``: the hash on standard output, nothing else there."""
    iterations = passwords.DEFAULT_ITERATIONS
    if ns.iterations is not None:
        try:
            iterations = _number("--iterations", ns.iterations, int)
            if not passwords.MIN_ITERATIONS <= iterations <= passwords.MAX_ITERATIONS:
                raise ConfigError(
                    "--iterations",
                    iterations,
                    f"must be between {passwords.MIN_ITERATIONS} and {passwords.MAX_ITERATIONS}",
                )
        except ConfigError as exc:
            print(f"statbus: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    if sys.stdin.isatty():
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Password (again): ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return EXIT_PASSWORD
        if password != again:
            print("statbus: the two passwords differ; nothing printed", file=sys.stderr)
            return EXIT_PASSWORD
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        print("statbus: an empty password cannot be hashed", file=sys.stderr)
        return EXIT_PASSWORD
    print(passwords.hash_password(password, iterations=iterations), flush=True)
    if sys.stdin.isatty():
        print('statbus: put it in the [api] section as password = "<hash>"', file=sys.stderr)
    return 0


def _run(config: Config, ns: argparse.Namespace) -> int:
    from api.main import api_urls, run_forever

    logging.basicConfig(
        level=config.global_.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request's full URL at INFO: webhook URLs often carry tokens.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # As the reference: the password is never shown; without authentication, neither
    # are the config file's path and the user name.
    hidden = "********"
    open_api = not config.api.password
    args = {
        "config": hidden if open_api and ns.config else ns.config,
        "bind": config.api.bind,
        "port": config.api.port,
        "refresh": config.global_.refresh,
        "log_level": config.global_.log_level,
        "url_prefix": config.api.url_prefix,
        "username": hidden if open_api else config.api.username,
        "password": hidden if config.api.password else "",
    }

    def ready(running: Any) -> None:
        for url in api_urls(running, config):
            print(f"statbus {__version__} serving {url}", flush=True)
        if not config.api.enabled:
            print(f"statbus {__version__} sampling (the API is disabled)", flush=True)

    failed: list[BaseException] = []
    try:
        trio.run(run_forever, config, args, ready)
    except* OSError as group:  # typically: the port is taken
        failed.extend(group.exceptions)
    for exc in failed:
        print(
            f"statbus: cannot serve on {config.api.bind}:{config.api.port}: {exc}", file=sys.stderr
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
