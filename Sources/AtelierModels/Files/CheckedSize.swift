/// Element counts of shapes read from files, where a corrupt or hostile
/// header can claim dimensions whose product overflows (an IDX file's
/// 0xFFFFFFFF, a safetensors shape of [2^32, 2^32]).
enum CheckedSize {
    /// The product of `dims`, or nil when one is negative or it overflows Int.
    static func product<S: Sequence>(_ dims: S) -> Int? where S.Element == Int {
        var total = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            total = product
        }
        return total
    }
}
