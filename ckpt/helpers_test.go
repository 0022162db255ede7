package ckpt

import "os"

var errNotExist = os.ErrNotExist
