;; A WASI command that opens data.txt in the first pre-opened directory (fd 3) and returns
;; {"content": "<its text>"}. Without a pre-opened directory the open fails: it exits with
;; the WASI error number.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "data.txt")          ;; 8 bytes
  ;; The output is assembled in one piece: the prefix at 1012, the file's text from 1024, then
  ;; the suffix. 32: the opened fd; 40: an iovec; 48: a byte count.
  (data (i32.const 1012) "{\"content\":\"")
  (func (export "_start")
    (local $errno i32) (local $fd i32) (local $length i32)
    (local.set $errno
      (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 8)
                       (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 32)))
    (if (local.get $errno) (then (call $proc_exit (local.get $errno))))
    (local.set $fd (i32.load (i32.const 32)))
    (i32.store (i32.const 40) (i32.const 1024))
    (i32.store (i32.const 44) (i32.const 4096))
    (local.set $errno (call $fd_read (local.get $fd) (i32.const 40) (i32.const 1) (i32.const 48)))
    (if (local.get $errno) (then (call $proc_exit (local.get $errno))))
    (local.set $length (i32.load (i32.const 48)))
    (i32.store16 (i32.add (i32.const 1024) (local.get $length)) (i32.const 0x7d22))  ;; "}
    (i32.store (i32.const 40) (i32.const 1012))
    (i32.store (i32.const 44) (i32.add (local.get $length) (i32.const 14)))
    (drop (call $fd_write (i32.const 1) (i32.const 40) (i32.const 1) (i32.const 48)))))
