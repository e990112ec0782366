"""The exit codes of every ``harbourmaster`` command, defined once.

=====  ==============================================================================
code   meaning
=====  ==============================================================================
0      done; every image allowed; nothing failed
1      the policy says no: an image denied, a scan blocked, a verification failed,
       tampering found, the caller may not do this
2      bad input or usage: a malformed argument or file, an unknown name (environment,
       registry, user...), a missing ``--namespace`` on a Kubernetes environment,
       a command-line usage error
3      could not decide: a registry, the database, the master key or another
       dependency failed, or harbourmaster itself failed unexpectedly
=====  ==============================================================================

An error's code is found in :data:`EXIT_CODES` by its class: the first entry that
the error is an instance of wins, so specific classes come before their bases.
Classes are named by module and name, and looked up only in modules already
imported (an error cannot be an instance of a class whose module was never
imported): rendering an error imports nothing, so even a failing command stays
fast.  A test checks that every entry names an error class where it is defined.
Everything not listed (the root :class:`~harbourmaster.errors.Error` included)
is "could not decide".
"""

from __future__ import annotations

import enum
import sys

__all__ = ["EXIT_CODES", "ExitCode", "exit_code_for"]


class ExitCode(enum.IntEnum):
    OK = 0
    #: The policy says no.
    REFUSED = 1
    #: Bad input or usage.
    BAD_INPUT = 2
    #: Could not decide: a dependency, or harbourmaster itself, failed.
    UNDECIDED = 3


#: (module, class, exit code), most specific first; why each is where it is, in the comments.
EXIT_CODES: tuple[tuple[str, str, ExitCode], ...] = (
    # A policy refusal raised by another layer.
    ("harbourmaster.registry.errors", "InsecureTransportRefused", ExitCode.REFUSED),
    # The input names something that does not exist (a tag), or a variable or file that is not there.
    ("harbourmaster.registry.errors", "NotFoundInRegistry", ExitCode.BAD_INPUT),
    ("harbourmaster.vault.interface", "UnresolvedSecretError", ExitCode.BAD_INPUT),
    # Before the layers' bases: classes that mix in BadInput or NotFound
    # (PublicKeyFormatError(SigningKeyError, BadInput), SourceError(SbomError, BadInput) ...) are bad input.
    ("harbourmaster.errors", "BadInput", ExitCode.BAD_INPUT),
    ("harbourmaster.errors", "NotFound", ExitCode.BAD_INPUT),
    ("harbourmaster.errors", "Conflict", ExitCode.BAD_INPUT),
    # The policy says no; tampering found.
    ("harbourmaster.errors", "Forbidden", ExitCode.REFUSED),
    ("harbourmaster.errors", "Unauthenticated", ExitCode.REFUSED),
    ("harbourmaster.store.interface", "AuditLogBroken", ExitCode.REFUSED),
    ("harbourmaster.services.checkpoint_keys", "CheckpointRefused", ExitCode.REFUSED),
    # A dependency failed: the registry (down, credential refused, protocol), the database
    # (unreachable, not migrated: run 'harbourmaster init'), the vault (master key missing or
    # unusable), a file that cannot be written.
    ("harbourmaster.registry.errors", "RegistryError", ExitCode.UNDECIDED),
    ("harbourmaster.store.interface", "StoreError", ExitCode.UNDECIDED),
    ("harbourmaster.vault.interface", "VaultError", ExitCode.UNDECIDED),
    ("harbourmaster.errors", "Error", ExitCode.UNDECIDED),
)


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code for ``error``: its first entry in :data:`EXIT_CODES`; 3 for anything else."""
    for module_name, class_name, code in EXIT_CODES:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(error, cls):
            return code
    return ExitCode.UNDECIDED
