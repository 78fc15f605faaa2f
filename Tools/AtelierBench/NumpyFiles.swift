import Foundation

/// Reads the NumPy files the peers export (.npy, and .npz archives of them,
/// which NumPy stores uncompressed), as float32 values with their shape.
enum NumpyFiles {
    struct Array {
        var shape: [Int]
        var values: [Float]
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func npy(_ path: String) throws -> Array {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try npy(data, at: 0, name: path).array
    }

    /// Every array of an .npz archive by name (without ".npy").
    static func npz(_ path: String) throws -> [String: Array] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var arrays: [String: Array] = [:]
        var at = 0
        func u16(_ o: Int) -> Int { Int(data[o]) | Int(data[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        // Local file headers one after another; each entry's size comes from
        // its own .npy header, so zip64 size fields need not be read.
        while at + 30 <= data.count, u32(at) == 0x0403_4B50 {
            guard u16(at + 8) == 0 else { throw Failure(description: "\(path) is a compressed .npz (savez_compressed); export it uncompressed") }
            // NumPy writes seekable archives: sizes in the header, no trailing descriptor.
            guard u16(at + 6) & 8 == 0 else { throw Failure(description: "\(path): streamed zip entries are not supported") }
            let nameLength = u16(at + 26), extraLength = u16(at + 28)
            let name = String(decoding: data[(at + 30)..<(at + 30 + nameLength)], as: UTF8.self)
            let (array, end) = try npy(data, at: at + 30 + nameLength + extraLength, name: "\(path):\(name)")
            arrays[name.hasSuffix(".npy") ? String(name.dropLast(4)) : name] = array
            at = end
        }
        guard !arrays.isEmpty else { throw Failure(description: "\(path) is not a NumPy .npz archive") }
        return arrays
    }

    /// One .npy at `offset`: the array and where its data ends.
    private static func npy(_ data: Data, at offset: Int, name: String) throws -> (array: Array, end: Int) {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard data.count >= offset + 10, Swift.Array(data[offset..<offset + 6]) == magic else {
            throw Failure(description: "\(name) is not a .npy array")
        }
        let major = data[offset + 6]
        let headerLength = major == 1 ? Int(data[offset + 8]) | Int(data[offset + 9]) << 8
            : Int(data[offset + 8]) | Int(data[offset + 9]) << 8 | Int(data[offset + 10]) << 16 | Int(data[offset + 11]) << 24
        let headerStart = offset + (major == 1 ? 10 : 12)
        let header = String(decoding: data[headerStart..<headerStart + headerLength], as: UTF8.self)
        guard !header.contains("'fortran_order': True") else { throw Failure(description: "\(name): Fortran order is not supported") }
        let wide: Bool
        if header.contains("'<f4'") { wide = false } else if header.contains("'<f8'") { wide = true } else {
            throw Failure(description: "\(name): only little-endian float32 and float64 arrays are read (\(header))")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw Failure(description: "\(name): no shape in the header")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let start = headerStart + headerLength
        let size = count * (wide ? 8 : 4)
        guard data.count >= start + size else { throw Failure(description: "\(name) is truncated") }
        var values = [Float](repeating: 0, count: count)
        data[start..<start + size].withUnsafeBytes { raw in
            for i in 0..<count {
                values[i] = wide ? Float(raw.loadUnaligned(fromByteOffset: i * 8, as: Double.self))
                    : raw.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
            }
        }
        return (Array(shape: shape, values: values), start + size)
    }
}
