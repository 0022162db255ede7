package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindUnderModuleRoot(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "a", "b")
	guest := filepath.Join(root, "build", "guest")
	for _, d := range []string{sub, guest} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	t.Setenv(EnvDir, "")
	if _, _, err := Find(); err == nil || !strings.Contains(err.Error(), "run make guest") {
		t.Fatalf("empty build dir: err = %v, want one saying run make guest", err)
	}
	for _, f := range []string{"vmlinuz", "initramfs.gz"} {
		if err := os.WriteFile(filepath.Join(guest, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	k, i, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	if k != filepath.Join(guest, "vmlinuz") || i != filepath.Join(guest, "initramfs.gz") {
		t.Fatalf("got %s %s", k, i)
	}
}

func TestFindEnvOverrides(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	if _, _, err := Find(); err == nil {
		t.Fatal("empty DCRES_GUEST_DIR: no error")
	}
	for _, f := range []string{"vmlinuz", "initramfs.gz"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	if k, _, err := Find(); err != nil || k != filepath.Join(dir, "vmlinuz") {
		t.Fatalf("got %s %v", k, err)
	}
}
