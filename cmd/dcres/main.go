// Command dcres checkpoints and restores split-memory VMs with D-CRES: it
// runs host agents, local labs, scenarios, single operations, benchmarks and
// the operator console. Run `dcres help` for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"dcres/writetrack"
)

// Exit statuses: 0 success, 1 the operation failed, 2 bad usage or input.
const (
	exitFail  = 1
	exitUsage = 2
)

// usageError is bad input: exit status 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"lab", "run a local lab (default: the embedded lab-local profile) and open the console", cmdLab},
		{"run", "run a profile's scenario non-interactively", cmdRun},
		{"checkpoint", "checkpoint the VM of a profile's hosts", cmdCheckpoint},
		{"restore", "restore a checkpoint, on the same or another placement", cmdRestore},
		{"verify", "verify a checkpoint's digests, or the running guest's pages", cmdVerify},
		{"repair", "rebuild a checkpoint's lost or damaged copies from good ones", cmdRepair},
		{"ls", "list committed checkpoints", cmdList},
		{"delete", "delete a checkpoint on every host", cmdDelete},
		{"compact", "fold an incremental checkpoint's chain into a full checkpoint", cmdCompact},
		{"console", "open the operator console on a profile's hosts", cmdConsole},
		{"bench", "compare dcres and traditional checkpoints side by side", cmdBench},
		{"replay", "play, summarize or export a session recording", cmdReplay},
		{"profile", "check, show or list profiles", cmdProfile},
		{"agent", "run a host agent", cmdAgent},
		{"version", "print the version", cmdVersion},
	}
}

func main() {
	// The agent runs itself again to set up QEMU's write tracking.
	writetrack.MaybeHelper()
	os.Exit(mainErr(os.Args[1:]))
}

func mainErr(args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return mainErr([]string{args[1], "--help"})
		}
		printUsage()
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:])
			if err == nil {
				return 0
			}
			if errors.Is(err, errHelp) {
				return 0
			}
			fmt.Fprintf(os.Stderr, "dcres %s: %v\n", c.name, err)
			var ue usageError
			if errors.As(err, &ue) {
				return exitUsage
			}
			return exitFail
		}
	}
	fmt.Fprintf(os.Stderr, "dcres: unknown command %q\n\n", args[0])
	printUsage()
	return exitUsage
}

func printUsage() {
	fmt.Fprintf(os.Stderr, "usage: dcres COMMAND [flags] [args]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun `dcres COMMAND --help` for a command's flags. Exit status: 0 ok, 1 failed, 2 bad usage or input.\n")
}
