import AtelierDevices
import AtelierGraph
import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON
/// header naming each tensor's dtype, shape and byte range, then the raw
/// data. Python's `safetensors` package reads and writes these files.
/// Values are held as Float whatever the file's dtype: floats of 16 and 64
/// bits are converted on reading and writing, integers (BatchNorm's
/// num_batches_tracked counter, say) carried as floats of their value.
public enum Safetensors {
    /// The element types read and written; others (8-bit floats) are refused by name.
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
        case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

        /// Bytes of one element.
        public var bytes: Int {
            switch self {
            case .f64, .i64: 8
            case .f32, .i32: 4
            case .f16, .bf16, .i16: 2
            case .i8, .u8, .bool: 1
            }
        }

        /// Whether it holds floating-point values (weights) rather than integers.
        public var isFloat: Bool { [.f32, .f16, .bf16, .f64].contains(self) }

        /// Element `index` of `raw` as a Float.
        func load(_ raw: UnsafeRawBufferPointer, _ index: Int) -> Float {
            let at = index * bytes
            switch self {
            case .f32: return raw.loadUnaligned(fromByteOffset: at, as: Float.self)
            case .f16: return Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
            case .bf16: return Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)) << 16)
            case .f64: return Float(raw.loadUnaligned(fromByteOffset: at, as: Double.self))
            case .i64: return Float(raw.loadUnaligned(fromByteOffset: at, as: Int64.self))
            case .i32: return Float(raw.loadUnaligned(fromByteOffset: at, as: Int32.self))
            case .i16: return Float(raw.loadUnaligned(fromByteOffset: at, as: Int16.self))
            case .i8: return Float(raw.loadUnaligned(fromByteOffset: at, as: Int8.self))
            case .u8, .bool: return Float(raw.loadUnaligned(fromByteOffset: at, as: UInt8.self))
            }
        }

        /// `values` in this type's little-endian bytes (floats rounded to
        /// nearest even, integers rounded and clamped to the type's range).
        func store(_ values: [Float], into data: inout Data) {
            func append<T>(_ value: T) { withUnsafeBytes(of: value) { data.append(contentsOf: $0) } }
            func integer<T: FixedWidthInteger>(_ v: Float, _: T.Type) -> T {
                guard v.isFinite else { return v > 0 ? T.max : v < 0 ? T.min : 0 }
                return T(max(Double(T.min), min(Double(T.max), Double(v).rounded())))
            }
            switch self {
            case .f32: values.withUnsafeBytes { data.append(contentsOf: $0) }
            case .f16: for v in values { append(Float16(v).bitPattern) }
            case .bf16: for v in values { append(Self.bfloat16(v)) }
            case .f64: for v in values { append(Double(v)) }
            case .i64: for v in values { append(integer(v, Int64.self)) }
            case .i32: for v in values { append(integer(v, Int32.self)) }
            case .i16: for v in values { append(integer(v, Int16.self)) }
            case .i8: for v in values { append(integer(v, Int8.self)) }
            case .u8: for v in values { append(integer(v, UInt8.self)) }
            case .bool: for v in values { append(UInt8(v != 0 ? 1 : 0)) }
            }
        }

        /// The upper half of a float rounded to nearest even (NaN kept a NaN).
        static func bfloat16(_ v: Float) -> UInt16 {
            let bits = v.bitPattern
            guard !v.isNaN else { return UInt16(bits >> 16) | 0x40 }
            return UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
        }
    }

    /// One tensor of a file.
    public struct Entry: Sendable {
        /// Its key.
        public var name: String
        /// Its dimensions ([] for a scalar).
        public var shape: [Int]
        /// Its elements, row-major, as floats.
        public var values: [Float]
        /// The element type in the file (F32 for every checkpoint Atelier writes).
        public var dtype: DType
        /// A tensor to write (`values.count` must be the product of `shape`).
        public init(name: String, shape: [Int], values: [Float], dtype: DType = .f32) {
            self.name = name
            self.shape = shape
            self.values = values
            self.dtype = dtype
        }
    }

    /// The file's bytes: `entries` in order, each in its dtype, and `metadata` as the
    /// header's `__metadata__`.
    public static func encode(_ entries: [Entry], metadata: [String: String]) throws -> Data {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for e in entries {
            guard e.values.count == e.shape.reduce(1, *) else {
                throw CheckpointError("tensor \(e.name): \(e.values.count) values for shape \(e.shape)")
            }
            header[e.name] = ["dtype": e.dtype.rawValue, "shape": e.shape, "data_offsets": [offset, offset + e.dtype.bytes * e.values.count]]
            offset += e.dtype.bytes * e.values.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces to 8 bytes, as the reference writer does.
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for e in entries { e.dtype.store(e.values, into: &data) }  // little-endian hosts only
        return data
    }

    /// The tensors and metadata of a file's bytes; `source` names it in errors.
    /// Bounds, shapes and sizes are checked before anything is allocated.
    public static func decode(_ data: Data, source: String) throws -> (entries: [String: Entry], metadata: [String: String]) {
        func fail(_ why: String) -> CheckpointError {
            CheckpointError("\(source) is not a valid safetensors file (\(why)); it may be truncated or from another program")
        }
        guard data.count >= 8 else { throw fail("too short") }
        let length = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length <= UInt64(data.count - 8) else { throw fail("header length \(length) exceeds the file") }
        let headerEnd = 8 + Int(length)
        guard let header = try? JSONSerialization.jsonObject(with: data[8..<headerEnd]) as? [String: Any] else {
            throw fail("unreadable header")
        }
        let body = data[headerEnd...]
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = value as? [String: String] ?? [:]
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
                  offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] <= body.count else {
                throw fail("bad entry for \(name)")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw CheckpointError("\(source): \(name) is of type \(dtypeName), which Atelier does not read (it reads \(DType.allCases.map(\.rawValue).joined(separator: ", "))); convert it to F32 first")
            }
            guard let count = CheckedSize.product(shape), count <= body.count / dtype.bytes,
                  offsets[1] - offsets[0] == dtype.bytes * count else {
                throw fail("the shape \(shape) of \(name) does not match its \(offsets[1] - offsets[0]) bytes of \(dtypeName)")
            }
            let bytes = body[(body.startIndex + offsets[0])..<(body.startIndex + offsets[1])]
            let values = bytes.withUnsafeBytes { raw in (0..<count).map { dtype.load(raw, $0) } }
            entries[name] = Entry(name: name, shape: shape, values: values, dtype: dtype)
        }
        return (entries, metadata)
    }
}

/// A checkpoint or weights file that cannot be read, written or used, and why.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    /// The message, naming the file and the fix.
    public let description: String
    /// An error with `description` as its message.
    public init(_ description: String) { self.description = description }
}
