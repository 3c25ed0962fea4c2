;; A WASI command: reads one JSON object on stdin, writes {"echo": <that object>} to stdout.
;; Any language that compiles to wasm32-wasi can do the same with its own JSON library.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; The output is assembled in one piece: the prefix at 1016, the input from 1024 (up to the
  ;; end of the second page, less one byte), then "}". 16: an iovec; 24: a byte count.
  (data (i32.const 1016) "{\"echo\":")
  (func (export "_start")
    (local $end i32) (local $n i32) (local $at i32)
    (local.set $end (i32.const 1024))
    (block $eof
      (loop $read
        (i32.store (i32.const 16) (local.get $end))
        (i32.store (i32.const 20) (i32.sub (i32.const 131071) (local.get $end)))
        (br_if $eof (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
        (local.set $n (i32.load (i32.const 24)))
        (br_if $eof (i32.eqz (local.get $n)))
        (local.set $end (i32.add (local.get $end) (local.get $n)))
        (br $read)))
    (i32.store8 (local.get $end) (i32.const 125))  ;; "}"
    (local.set $end (i32.add (local.get $end) (i32.const 1)))
    ;; Write until everything is out: a write may take only part of it.
    (local.set $at (i32.const 1016))
    (block $written
      (loop $write
        (br_if $written (i32.ge_u (local.get $at) (local.get $end)))
        (i32.store (i32.const 16) (local.get $at))
        (i32.store (i32.const 20) (i32.sub (local.get $end) (local.get $at)))
        (br_if $written (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
        (local.set $at (i32.add (local.get $at) (i32.load (i32.const 24))))
        (br $write)))))
