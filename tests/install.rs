//! `make install DESTDIR=… PREFIX=…` puts exactly the two commands (0755)
//! and the two man pages (0644, gzipped as distributions ship them) under
//! DESTDIR/PREFIX, and writes nothing anywhere else. It runs the project's
//! Makefile in a scratch tree holding what `make` would have left in build/,
//! so no second cargo build runs.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file under `root`, relative, with its mode and size.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, u64)> {
    let mut files = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                let rel = entry.path().strip_prefix(root).unwrap().to_path_buf();
                files.insert(rel, (meta.permissions().mode() & 0o7777, meta.len()));
            }
        }
    }
    files
}

#[test]
fn make_install_puts_exactly_four_files_under_destdir_with_their_modes() {
    let make = match Command::new("make").arg("--version").output() {
        Ok(_) => "make",
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "make is required in CI: {e}"
            );
            eprintln!("SKIPPED: make is not installed ({e})");
            return;
        }
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = std::env::temp_dir().join(format!("ismon-install-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    let tree = scratch.join("tree");
    let dest = scratch.join("dest");
    fs::create_dir_all(tree.join("build")).unwrap();
    fs::create_dir_all(tree.join("man")).unwrap();
    for (exe, name) in [
        (env!("CARGO_BIN_EXE_clp_httpmon"), "clp_httpmon"),
        (env!("CARGO_BIN_EXE_clp_smtpmon"), "clp_smtpmon"),
    ] {
        fs::copy(exe, tree.join("build").join(name)).unwrap();
        // A umask or a build that left odd modes must not leak into the install.
        fs::set_permissions(
            tree.join("build").join(name),
            fs::Permissions::from_mode(0o700),
        )
        .unwrap();
    }
    for page in ["clp_httpmon.8", "clp_smtpmon.8"] {
        fs::copy(repo.join("man").join(page), tree.join("man").join(page)).unwrap();
        fs::set_permissions(
            tree.join("man").join(page),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let before = snapshot(&tree);

    let out = Command::new(make)
        .arg("-f")
        .arg(repo.join("Makefile"))
        .arg("-C")
        .arg(&tree)
        .arg("install")
        .arg(format!("DESTDIR={}", dest.display()))
        .arg("PREFIX=/opt/ismon")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make install failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let installed = snapshot(&dest);
    let expected: Vec<(PathBuf, u32)> = vec![
        ("opt/ismon/sbin/clp_httpmon".into(), 0o755),
        ("opt/ismon/sbin/clp_smtpmon".into(), 0o755),
        ("opt/ismon/share/man/man8/clp_httpmon.8.gz".into(), 0o644),
        ("opt/ismon/share/man/man8/clp_smtpmon.8.gz".into(), 0o644),
    ];
    let got: Vec<(PathBuf, u32)> = installed
        .iter()
        .map(|(p, (mode, _))| (p.clone(), *mode))
        .collect();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(got, want, "installed files and modes");
    for (path, (_, size)) in &installed {
        let name = path.file_name().unwrap().to_str().unwrap();
        if path.starts_with("opt/ismon/sbin") {
            let built = fs::metadata(tree.join("build").join(name)).unwrap().len();
            assert_eq!(*size, built, "{}", path.display());
        } else {
            // The page, byte for byte, once uncompressed.
            let out = Command::new("gzip")
                .arg("-dc")
                .arg(dest.join(path))
                .output()
                .unwrap();
            let page = fs::read(tree.join("man").join(name.trim_end_matches(".gz"))).unwrap();
            assert!(
                out.status.success() && out.stdout == page,
                "{} is not the gzipped page",
                path.display()
            );
        }
    }
    assert_eq!(
        snapshot(&tree),
        before,
        "make install changed the tree it installs from"
    );
    let _ = fs::remove_dir_all(&scratch);
}
