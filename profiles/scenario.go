package profiles

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

const refRule = "a checkpoint id, last, last-dcres, last-traditional or last-qemu-stream"

var checkpointID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// scenario reads the list of steps; step defaults come from the profile's
// checkpoint and restore policies.
func (p *parser) scenario(n *yaml.Node, prof *Profile, hosts []string) []Step {
	if n.Kind != yaml.SequenceNode {
		if isNull(n) {
			return nil
		}
		p.fail(n, "scenario", "", "expected a list of steps (- run: 2s), found %s", describe(n))
		return nil
	}
	kinds := schema["scenario[]"]
	var steps []Step
	for i, item := range n.Content {
		path := fmt.Sprintf("scenario[%d]", i)
		f, ok := p.fields(item, path, "scenario[]")
		if !ok {
			continue
		}
		item = resolve(item)
		if len(f) != 1 {
			if len(f) == 0 && len(item.Content) == 0 {
				p.fail(item, path, strings.Join(kinds, ", "), "step is empty")
			} else if len(f) > 1 {
				p.fail(item, path, "one of "+strings.Join(kinds, ", "), "a step does one thing, and this one has %d keys; put each on its own \"- \" line", len(f))
			}
			continue
		}
		for kind, kf := range f {
			st := Step{Kind: kind, Line: item.Line}
			if p.step(&st, kf.val, path+"."+kind, prof, hosts) {
				steps = append(steps, st)
			}
		}
	}
	return steps
}

func (p *parser) step(st *Step, n *yaml.Node, path string, prof *Profile, hosts []string) bool {
	before := len(p.errs)
	switch st.Kind {
	case StepRun:
		s, ok := p.str(n, path)
		if !ok {
			return false
		}
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d <= 0 {
			p.fail(n, path, "a positive duration such as 2s, 500ms or 1m30s", "%q is not a duration", s)
			return false
		}
		st.Duration = d
	case StepCheckpoint:
		st.Checkpoint.Method = prof.Checkpoint.Method
		st.Checkpoint.Live = prof.Checkpoint.Live
		st.Checkpoint.Incremental = prof.Checkpoint.Incremental
		st.Checkpoint.Replicas = prof.Checkpoint.Replicas
		st.Checkpoint.Parity = prof.Checkpoint.Parity
		f, ok := p.fields(n, path, "scenario[].checkpoint")
		if !ok {
			return false
		}
		p.checkpointFields(&st.Checkpoint, f, path, prof.VM.Driver)
	case StepRestore:
		st.Restore.From = defaultFrom
		st.Restore.Placement = prof.Restore.Placement
		f, ok := p.fields(n, path, "scenario[].restore")
		if !ok {
			return false
		}
		if ff, ok := f["from"]; ok {
			st.Restore.From, _ = p.ref(ff.val, path+".from")
		}
		if pf, ok := f["placement"]; ok {
			st.Restore.Placement, _ = p.placement(pf.val, path+".placement", hosts)
		}
		if lf, ok := f["lazy"]; ok {
			st.Restore.Lazy, _ = p.boolean(lf.val, path+".lazy")
		}
	case StepVerify:
		f, ok := p.fields(n, path, "scenario[].verify")
		if !ok {
			return false
		}
		if cf, ok := f["checkpoint"]; ok {
			st.VerifyCheckpoint, _ = p.ref(cf.val, path+".checkpoint")
		}
	case StepPauseForReader:
		s, ok := p.str(n, path)
		if !ok {
			return false
		}
		if strings.TrimSpace(s) == "" {
			p.fail(n, path, "", "pause-for-reader needs the text to show")
			return false
		}
		st.Text = s
	case StepFault:
		p.fault(&st.Fault, n, path, prof, hosts)
	}
	return len(p.errs) == before
}

// ref reads a checkpoint reference: an id or one of refKeywords. Ids may
// not start with "last" nor be a near miss of a keyword ("latest"), so a
// mistyped keyword is caught, not taken as an id that never exists.
func (p *parser) ref(n *yaml.Node, path string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if contains(refKeywords, s) {
		return s, true
	}
	if strings.HasPrefix(s, "last") || nearKeyword(s) {
		p.fail(n, path, refRule, "unknown keyword %q%s", s, suggest(s, refKeywords))
		return "", false
	}
	if !checkpointID.MatchString(s) {
		p.fail(n, path, refRule+" (ids are letters, digits, '.', '_' and '-')", "%q is not a checkpoint id", s)
		return "", false
	}
	return s, true
}

// nearKeyword reports whether s is within two edits of a keyword.
func nearKeyword(s string) bool {
	for _, k := range refKeywords {
		if distance(strings.ToLower(s), k) <= 2 {
			return true
		}
	}
	return false
}
