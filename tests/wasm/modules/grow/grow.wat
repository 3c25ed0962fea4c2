;; Grows its memory one page (64 KiB) at a time, `pages` times; traps when a growth is refused.
(module
  (memory (export "memory") 1)
  (func (export "grow") (param $pages i32) (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $pages)))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (local.set $pages (i32.sub (local.get $pages) (i32.const 1)))
        (br $more)))
    (memory.size)))
