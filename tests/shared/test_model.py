"""The transaction model: what becomes a transaction and how it travels."""

from __future__ import annotations

import zlib

import orjson
import pytest
from pydantic import ValidationError

from shared.errors import InvalidInput
from shared.keys import ShardKeys
from shared.model import Tx, TxType
from shared.sharding import shard_of
from shared.wire import TRANSACTION


def make(**fields: object) -> Tx:
    return TRANSACTION.validate_json(orjson.dumps(fields))


def test_deposit_becomes_a_tx_in_units() -> None:
    tx = make(tx_id="t1", account_id="acc-1", type="deposit", amount="10.25")
    assert tx == Tx("acc-1", "t1", TxType.DEPOSIT, 102_500)


@pytest.mark.parametrize(
    "fields",
    [
        {"tx_id": "t1", "account_id": "a", "type": "deposit"},  # amount missing
        {"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "0"},
        {"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "-5"},
        {"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "1.00005"},
        {"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": 5},  # a number
        {"tx_id": "t1", "account_id": "a", "type": "teleport", "amount": "1"},
        {"tx_id": "t 1", "account_id": "a", "type": "deposit", "amount": "1"},
        {"tx_id": "t1", "account_id": "a{1}", "type": "deposit", "amount": "1"},
        {"tx_id": "t1", "account_id": "a:b", "type": "deposit", "amount": "1"},
        {"tx_id": "x" * 65, "account_id": "a", "type": "deposit", "amount": "1"},
        {"tx_id": "", "account_id": "a", "type": "deposit", "amount": "1"},
        {"tx_id": "t1", "account_id": "a", "type": "dispute"},  # ref missing
        {"tx_id": "t1", "account_id": "a", "type": "dispute", "ref_tx_id": "t0", "amount": "1"},
        {"tx_id": "t1", "account_id": "a", "type": "withdrawal", "amount": "1", "ref_tx_id": "t"},
        {"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "1", "extra": 1},
    ],
)
def test_invalid_input_never_becomes_a_transaction(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        make(**fields)


@pytest.mark.parametrize(
    "tx",
    [
        Tx("acc.1", "t-9", TxType.WITHDRAWAL, 1, None, 1_700_000_000_000),
        Tx("a", "d1", TxType.DISPUTE, None, "t-9", 5),
    ],
)
def test_envelope_round_trips(tx: Tx) -> None:
    assert Tx.decode(tx.encode()) == tx


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"{}",
        b'{"a":"x","t":"1","y":"deposit"}',
        b'{"a":"x","t":"1","y":"deposit","m":"5"}',
        b'{"a":"x","t":"1","y":"deposit","m":-5}',
        b'{"a":"x:y","t":"1","y":"deposit","m":5}',
        b"[1]",
    ],
)
def test_malformed_entries_fail_to_decode(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        Tx.decode(data)


def test_shard_is_crc32_mod_n_and_keys_carry_the_hash_tag() -> None:
    assert shard_of("acc-1", 16) == zlib.crc32(b"acc-1") % 16
    keys = ShardKeys(7)
    assert keys.inbox == "txflow:{7}:in"
    assert keys.account("acc-1") == "txflow:{7}:acct:acc-1"
    names = {keys.lease, keys.epoch, keys.ckpt, keys.outbox, keys.dlq}
    assert names == {f"txflow:{{7}}:{n}" for n in ("lease", "epoch", "ckpt", "out", "dlq")}
