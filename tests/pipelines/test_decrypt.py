"""`veil decrypt`: a sealed restricted copy opens with its account's key, and not once the key is destroyed."""

from __future__ import annotations

from pipelines import decrypt
from transforms.logic.sealing import seal_file
from transforms.services.keystore import LocalKeyStore


def test_decrypt_command(tmp_path, capsys):
    keystore = str(tmp_path / "keys.json")
    store = LocalKeyStore(keystore)
    key_id, key = store.key_for("alice")
    plain, sealed, out = tmp_path / "plain.bin", str(tmp_path / "sealed.bin"), tmp_path / "out.bin"
    plain.write_bytes(b"alice's face")
    seal_file(str(plain), sealed, key, key_id)
    assert decrypt.run([sealed, str(out), "--keystore", keystore]) == 0
    assert out.read_bytes() == b"alice's face"
    out.unlink()
    store.destroy("alice")
    capsys.readouterr()
    assert decrypt.run([sealed, str(out), "--keystore", keystore]) == 2
    err = capsys.readouterr().err
    assert f"key {key_id} is not in the key store (destroyed?)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
