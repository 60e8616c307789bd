"""Push and pull with whatever huggingface_hub this interpreter has (run inside a matrix venv).

    python push_pull.py <endpoint> <token> <repo_id> <workdir> [--sequential] [--big-bytes N]

Creates a private repo (and checks exist_ok), uploads a folder, lists its files, downloads each
file with hf_hub_download and the whole repo with snapshot_download, compares bytes, then
commits to a new branch, deletes a file, makes the repo public and renames it (then downloads through
the old id). Prints one JSON line with what it saw.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import huggingface_hub
from huggingface_hub import HfApi, hf_hub_download, snapshot_download


def make_folder(folder: Path, big_bytes: int) -> dict[str, bytes]:
    files = {
        "config.json": b'{"model_type": "tiny", "hidden_size": 8}',
        "README.md": b"---\nlicense: mit\ntags:\n- matrix\n---\n# Matrix test\n",
        "sub/dir/notes.txt": "unicode: \u00e9\u00e8 \u2603\n".encode(),
        "empty.txt": b"",
        "weights.bin": hashlib.sha256(b"seed").digest() * (big_bytes // 32),
    }
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("token")
    parser.add_argument("repo_id")
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--sequential", action="store_true", help="download one file at a time")
    parser.add_argument("--big-bytes", type=int, default=3 * 1024 * 1024)
    args = parser.parse_args()

    api = HfApi(endpoint=args.endpoint, token=args.token)
    files = make_folder(args.workdir / "upload", args.big_bytes)
    url = api.create_repo(args.repo_id, private=True)
    api.create_repo(args.repo_id, private=True, exist_ok=True)
    info = api.upload_folder(folder_path=args.workdir / "upload", repo_id=args.repo_id, commit_message="Matrix upload")
    listed = sorted(api.list_repo_files(args.repo_id))

    cache = args.workdir / "cache"
    downloaded_ok = all(
        Path(
            hf_hub_download(args.repo_id, path, endpoint=args.endpoint, token=args.token, cache_dir=cache)
        ).read_bytes()
        == data
        for path, data in files.items()
    )
    snapshot = Path(
        snapshot_download(
            args.repo_id,
            endpoint=args.endpoint,
            token=args.token,
            cache_dir=args.workdir / "snapshot-cache",
            max_workers=1 if args.sequential else 8,
        )
    )
    snapshot_ok = all((snapshot / path).read_bytes() == data for path, data in files.items())

    api.create_branch(args.repo_id, branch="dev")
    api.upload_file(path_or_fileobj=b"on dev", path_in_repo="dev.txt", repo_id=args.repo_id, revision="dev")
    api.delete_file("empty.txt", repo_id=args.repo_id)
    main_after = sorted(api.list_repo_files(args.repo_id))
    dev_after = sorted(api.list_repo_files(args.repo_id, revision="dev"))

    api.update_repo_settings(args.repo_id, private=False)
    private_after = api.repo_info(args.repo_id).private
    api.move_repo(args.repo_id, f"{args.repo_id}-moved")
    # The old id keeps working for downloads (a relative 307 the client follows).
    moved = hf_hub_download(
        args.repo_id, "config.json", endpoint=args.endpoint, token=args.token, cache_dir=args.workdir / "moved"
    )
    moved_download_ok = Path(moved).read_bytes() == files["config.json"]

    print(
        json.dumps(
            {
                "version": huggingface_hub.__version__,
                "xet_disabled": os.environ.get("HF_HUB_DISABLE_XET") == "1",
                "url": str(url),
                "commit": info.oid,
                "listed": listed,
                "downloaded_ok": downloaded_ok,
                "snapshot_ok": snapshot_ok,
                "snapshot_commit": snapshot.name,
                "main_after": main_after,
                "dev_after": dev_after,
                "private_after": private_after,
                "moved_download_ok": moved_download_ok,
            }
        )
    )


if __name__ == "__main__":
    main()
