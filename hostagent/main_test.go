package hostagent

import (
	"os"
	"testing"

	"dcres/writetrack"
)

// TestMain lets the test binary serve as writetrack's ptrace helper, as
// the dcres command does: the QEMU tests start write tracking.
func TestMain(m *testing.M) {
	writetrack.MaybeHelper()
	os.Exit(m.Run())
}
