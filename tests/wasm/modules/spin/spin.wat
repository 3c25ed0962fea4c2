;; Never returns: only the wall-clock deadline stops it (its fuel budget is far larger).
(module
  (func (export "spin") (loop $forever (br $forever))))
