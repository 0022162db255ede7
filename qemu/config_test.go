package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func validConfig(dir string) Config {
	return Config{
		Kernel: "k", Initrd: "i", Dir: dir, Accel: "tcg",
		Nodes: []Node{{SizeBytes: 64 << 20, MemPath: filepath.Join(dir, "a,b")}, {SizeBytes: 32 << 20, MemPath: filepath.Join(dir, "c")}},
	}
}

func TestArgs(t *testing.T) {
	c := validConfig("/run/x")
	c.Incoming = true
	c.Append = "dcres.seed=3"
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.args(), " ")
	for _, want := range []string{
		"-m 96M", "-smp 1", "accel=tcg",
		"memory-backend-file,id=ram0,size=67108864,mem-path=/run/x/a,,b,share=on",
		"-numa node,nodeid=1,memdev=ram1",
		"-append console=ttyS0 dcres.seed=3",
		"-incoming defer",
		"path=/run/x/serial1.sock",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q:\n%s", want, got)
		}
	}
}

func TestValidate(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"no kernel":     func(c *Config) { c.Kernel = "" },
		"no nodes":      func(c *Config) { c.Nodes = nil },
		"odd size":      func(c *Config) { c.Nodes[0].SizeBytes = 4096 },
		"no mem path":   func(c *Config) { c.Nodes[1].MemPath = "" },
		"no dir":        func(c *Config) { c.Dir = "" },
		"long dir path": func(c *Config) { c.Dir = "/" + strings.Repeat("d", 120) },
	} {
		c := validConfig("/run/x")
		mut(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestFSType(t *testing.T) {
	dir := t.TempDir()
	if ty, err := FSType(filepath.Join(dir, "ram0")); err != nil || ty == "" {
		t.Fatalf("FSType = %q, %v", ty, err)
	}
	if _, err := FSType(filepath.Join(dir, "missing", "ram0")); err == nil || !strings.Contains(err.Error(), "mount") {
		t.Fatalf("missing dir: err = %v", err)
	}
}

func writeEmpty(path string) error { return os.WriteFile(path, nil, 0o600) }

func TestStartWithoutBinary(t *testing.T) {
	c := validConfig(t.TempDir())
	c.Binary = "dcres-no-such-qemu"
	_, err := Start(t.Context(), c)
	if err == nil || !strings.Contains(err.Error(), "install qemu-system-x86") {
		t.Fatalf("err = %v, want install advice", err)
	}
}
