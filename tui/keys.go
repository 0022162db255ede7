package tui

import "charm.land/bubbles/v2/key"

// KeyMap is every key the console answers to. The same bindings feed the
// one-line help, the full help overlay and the matching in Update.
type KeyMap struct {
	Checkpoint  key.Binding
	Live        key.Binding
	Traditional key.Binding
	Restore     key.Binding
	Verify      key.Binding
	Delete      key.Binding
	Next        key.Binding
	Prev        key.Binding
	Up          key.Binding
	Down        key.Binding
	Filter      key.Binding
	Help        key.Binding
	Quit        key.Binding
	Yes         key.Binding
	Cancel      key.Binding
	Enter       key.Binding
	// GoOn (with Enter) ends a scenario's pause-for-reader.
	GoOn key.Binding
	// Replay keys, offered when the Controller is an api.Player.
	Pause   key.Binding
	Faster  key.Binding
	Slower  key.Binding
	Step    key.Binding
	Back    key.Binding
	Forward key.Binding
	Start   key.Binding
	End     key.Binding
}

// DefaultKeyMap is the console's key map.
func DefaultKeyMap() KeyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return KeyMap{
		Checkpoint:  b([]string{"c"}, "c", "ckpt"),
		Live:        b([]string{"l"}, "l", "live"),
		Traditional: b([]string{"t"}, "t", "trad"),
		Restore:     b([]string{"r"}, "r", "restore"),
		Verify:      b([]string{"v"}, "v", "verify"),
		Delete:      b([]string{"d"}, "d", "delete"),
		Next:        b([]string{"tab"}, "tab", "focus"),
		Prev:        b([]string{"shift+tab"}, "shift+tab", "back"),
		Up:          b([]string{"up", "k"}, "↑/k", "up"),
		Down:        b([]string{"down", "j"}, "↓/j", "down"),
		Filter:      b([]string{"/"}, "/", "filter"),
		Help:        b([]string{"?"}, "?", "help"),
		Quit:        b([]string{"q", "ctrl+c"}, "q", "quit"),
		Yes:         b([]string{"y", "Y"}, "y", "yes"),
		Cancel:      b([]string{"esc", "n", "N"}, "esc", "cancel"),
		Enter:       b([]string{"enter"}, "enter", "choose"),
		GoOn:        b([]string{"space"}, "space", "go on"),
		Pause:       b([]string{"space"}, "space", "pause"),
		Faster:      b([]string{"+", "="}, "+", "faster"),
		Slower:      b([]string{"-"}, "-", "slower"),
		Step:        b([]string{"."}, ".", "step"),
		Back:        b([]string{"left"}, "←", "-10s"),
		Forward:     b([]string{"right"}, "→", "+10s"),
		Start:       b([]string{"g", "home"}, "g", "start"),
		End:         b([]string{"G", "end"}, "G", "end"),
	}
}

// actions are the bindings read-only mode refuses.
func (k KeyMap) actions() []key.Binding {
	return []key.Binding{k.Checkpoint, k.Live, k.Traditional, k.Restore, k.Verify, k.Delete}
}

// ShortHelp is the one-line help.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Checkpoint, k.Live, k.Traditional, k.Restore, k.Verify, k.Delete, k.Next, k.Filter, k.Help, k.Quit}
}

// FullHelp is the help overlay, in columns.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Checkpoint, k.Live, k.Traditional, k.Restore, k.Verify, k.Delete},
		{k.Next, k.Prev, k.Up, k.Down, k.Filter},
		{k.Help, k.Quit, k.Yes, k.Cancel, k.Enter},
	}
}

// ReplayHelp is the replay keys, for the one-line help and the overlay.
func (k KeyMap) ReplayHelp() []key.Binding {
	return []key.Binding{k.Pause, k.Faster, k.Slower, k.Step, k.Back, k.Forward, k.Start, k.End}
}

// keyBinding is a short name for the bindings lists.
type keyBinding = key.Binding
