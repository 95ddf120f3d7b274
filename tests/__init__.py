"""Test suite of fm-lakehouse (a package, so ``tests.support`` imports from any test folder)."""
