"""Archives a customer's upload directory (sample with a shell injection)."""

import subprocess


def archive(customer_dir: str) -> int:
    """Tar the directory named by the request."""
    return subprocess.call(f"tar czf /backups/out.tgz {customer_dir}", shell=True)
