;; Traps on purpose: integer division by zero, and an unreachable instruction.
(module
  (func (export "divide") (param $a i32) (param $b i32) (result i32)
    (i32.div_s (local.get $a) (local.get $b)))
  (func (export "boom") unreachable))
