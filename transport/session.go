package transport

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ExecFunc runs one command an operator asked for with `ssh HOST COMMAND`,
// writing its output to w, and returns the exit status.
type ExecFunc func(id Identity, cmd string, w io.Writer) (exit int)

// Exit statuses of refused session requests, as a shell would report them.
const (
	ExitRefused  = 126 // a command that is not on the list
	ExitNotShell = 1   // a login shell was asked for
)

// serveSession answers the requests of one "session" channel: a single
// "exec" runs through cfg.Exec; a "shell" is refused with a message; pty,
// env, subsystem and the rest are declined. The channel closes after the
// first exec or shell, with an exit-status, as sshd does.
func (s *Server) serveSession(ctx context.Context, id Identity, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	stop := context.AfterFunc(ctx, func() { ch.Close() })
	defer stop()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			s.cfg.Logf("transport: %s %q runs %q", id.Role, id.Name, p.Command)
			exit := s.cfg.Exec(id, p.Command, ch)
			finish(ch, exit)
			return
		case "shell":
			req.Reply(true, nil)
			fmt.Fprintln(ch.Stderr(), "this is a dcres agent, not a shell: connect with the dcres console, or run `ssh HOST dcres version` or `ssh HOST dcres info`")
			finish(ch, ExitNotShell)
			return
		default:
			// pty-req, env, subsystem, x11-req, ...: nothing to offer.
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

// finish sends the exit status and ends the channel's output, so that the
// OpenSSH client exits with that status.
func finish(ch ssh.Channel, exit int) {
	status := struct{ Status uint32 }{uint32(exit)}
	ch.SendRequest("exit-status", false, ssh.Marshal(&status))
	ch.CloseWrite()
}

// Commands builds an ExecFunc from a fixed list of commands (the whole
// command line, e.g. "dcres version", matched after trimming spaces); any
// other command is refused with ExitRefused and a message listing the
// allowed ones. Only operators reach an ExecFunc (the Server refuses peers).
func Commands(cmds map[string]func(w io.Writer)) ExecFunc {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	return func(id Identity, cmd string, w io.Writer) int {
		run, ok := cmds[strings.Join(strings.Fields(cmd), " ")]
		if !ok || id.Role != RoleOperator {
			fmt.Fprintf(w, "dcres agent: %q is not a command this agent runs (allowed: %s)\n", cmd, strings.Join(names, ", "))
			return ExitRefused
		}
		run(w)
		return 0
	}
}

// AgentCommands is the agent's list: `dcres version` prints the version,
// `dcres info` the agent's name, version and host key fingerprint.
func AgentCommands(name, version string, hostKey ssh.PublicKey) ExecFunc {
	return Commands(map[string]func(io.Writer){
		"dcres version": func(w io.Writer) { fmt.Fprintf(w, "dcres %s\n", version) },
		"dcres info": func(w io.Writer) {
			fmt.Fprintf(w, "name: %s\nversion: %s\nhost key: %s\n", name, version, describeKey(hostKey))
		},
	})
}
