import CAtelier
import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// Pictures as users have them: every kind of PNG, JPEG, damaged files, and
/// folders of them resized and cropped to a model's size.
struct ImageFileTests {
    /// Writes `pixels` in libpng's `format` (optionally with a colormap) to `path`.
    static func writePNG(_ path: String, width: Int, height: Int, format: Int32, pixels: [UInt8], colormap: [UInt8]? = nil,
                         colormapEntries: Int = 0) throws {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = UInt32(format)
        image.colormap_entries = UInt32(colormapEntries)
        let ok = pixels.withUnsafeBytes { p in
            colormap.map { map in map.withUnsafeBytes { png_image_write_to_file(&image, path, 0, p.baseAddress, 0, $0.baseAddress) } }
                ?? png_image_write_to_file(&image, path, 0, p.baseAddress, 0, nil)
        }
        guard ok != 0 else { throw TestFailure("libpng could not write \(path)") }
    }

    @Test("PNGs of every kind read as 8-bit gray or RGB: gray, gray+alpha and RGBA over white, palette, gray palette, 16-bit as stored")
    func pngKinds() throws {
        let dir = try temporaryDirectory("png-kinds")
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        try Self.writePNG(path("gray.png"), width: 3, height: 1, format: Int32(PNG_FORMAT_GRAY), pixels: [0, 128, 255])
        #expect(try ImageFile.read(path("gray.png")) == PixelImage(width: 3, height: 1, channels: 1, pixels: [0, 128, 255]))

        // Opaque black, and black at alpha 0 (which must come out white).
        try Self.writePNG(path("ga.png"), width: 2, height: 1, format: Int32(PNG_FORMAT_GA), pixels: [0, 255, 0, 0])
        #expect(try ImageFile.read(path("ga.png")).pixels == [0, 255])

        try Self.writePNG(path("rgba.png"), width: 2, height: 1, format: Int32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA), pixels: [200, 10, 20, 255, 0, 0, 0, 0])
        let rgba = try ImageFile.read(path("rgba.png"))
        #expect(rgba.channels == 3 && rgba.pixels == [200, 10, 20, 255, 255, 255], "\(rgba.pixels)")

        let palette: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255]
        try Self.writePNG(path("palette.png"), width: 3, height: 1, format: Int32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_COLORMAP), pixels: [2, 0, 1],
                          colormap: palette, colormapEntries: 3)
        #expect(try ImageFile.read(path("palette.png")).pixels == [0, 0, 255, 255, 0, 0, 0, 255, 0])

        // A palette of grays reads as gray: one such file once turned a gray set RGB.
        try Self.writePNG(path("gray-palette.png"), width: 3, height: 1, format: Int32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_COLORMAP),
                          pixels: [1, 0, 1], colormap: [10, 10, 10, 200, 200, 200], colormapEntries: 2)
        #expect(try ImageFile.read(path("gray-palette.png")) == PixelImage(width: 3, height: 1, channels: 1, pixels: [200, 10, 200]))

        // 16-bit samples scaled to 8 bits as stored: libpng's 8-bit output
        // once took them for linear light and brightened 50 % gray to 186.
        let samples: [UInt16] = [0, 8192, 32768, 65535]
        let bytes = samples.withUnsafeBytes { Array($0) }
        try Self.writePNG(path("sixteen.png"), width: 4, height: 1, format: Int32(PNG_FORMAT_LINEAR_Y), pixels: bytes)
        #expect(try ImageFile.read(path("sixteen.png")) == PixelImage(width: 4, height: 1, channels: 1, pixels: [0, 32, 128, 255]))
        // With alpha (written premultiplied): black at half cover over white is mid-gray (127); no cover is white.
        let covered: [UInt16] = [0, 32768, 0, 0, 65535, 65535]
        try Self.writePNG(path("sixteen-alpha.png"), width: 3, height: 1, format: Int32(PNG_FORMAT_LINEAR_Y_ALPHA),
                          pixels: covered.withUnsafeBytes { Array($0) })
        #expect(try ImageFile.read(path("sixteen-alpha.png")).pixels == [127, 255, 255])  // 32767 of 65535 white
    }

    @Test("JPEGs read back what was written (gray and RGB); files are told apart by content, not name")
    func jpeg() throws {
        let dir = try temporaryDirectory("jpeg")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Flat 16x16 blocks (whole colour blocks of 4:2:0 JPEG) compress without visible loss.
        let (w, h) = (32, 32)
        let rgb = (0..<(w * h)).flatMap { i -> [UInt8] in
            let (x, y) = (i % w, i / w)
            return (x < 16) == (y < 16) ? [200, 40, 30] : [20, 90, 220]
        }
        let rgbPath = dir.appendingPathComponent("photo.jpg").path
        try JPEG.write(PixelImage(width: w, height: h, channels: 3, pixels: rgb), to: rgbPath)
        let read = try ImageFile.read(rgbPath)
        #expect(read.width == w && read.height == h && read.channels == 3)
        let worst = zip(read.pixels, rgb).map { abs(Int($0) - Int($1)) }.max()!
        #expect(worst <= 6, "largest difference \(worst): \(read.pixels.prefix(12)) \(read.pixels[(16 * w) * 3 ..< (16 * w) * 3 + 6])")

        let gray = (0..<(w * h)).map { UInt8($0 % w < 16 ? 30 : 220) }
        let grayPath = dir.appendingPathComponent("gray.jpeg").path
        try JPEG.write(PixelImage(width: w, height: h, channels: 1, pixels: gray), to: grayPath)
        let readGray = try ImageFile.read(grayPath)
        #expect(readGray.channels == 1 && zip(readGray.pixels, gray).allSatisfy { abs(Int($0) - Int($1)) <= 3 })

        // A PNG named .jpg is still read (as PNG).
        let misnamed = dir.appendingPathComponent("really-a-png.jpg").path
        try PNG.write(PixelImage(width: 2, height: 1, channels: 1, pixels: [7, 9]), to: misnamed)
        #expect(try ImageFile.read(misnamed).pixels == [7, 9])
    }

    @Test("Damaged, empty, truncated and foreign files are errors that name the file")
    func damaged() throws {
        let dir = try temporaryDirectory("damaged")
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.jpg").path
        try JPEG.write(PixelImage(width: 32, height: 32, channels: 3, pixels: (0..<3072).map { UInt8($0 % 251) }), to: good)
        let jpegBytes = try Data(contentsOf: URL(fileURLWithPath: good))
        var pngBytes = Data()
        let pngPath = dir.appendingPathComponent("good.png").path
        try PNG.write(PixelImage(width: 32, height: 32, channels: 3, pixels: (0..<3072).map { UInt8($0 % 253) }), to: pngPath)
        pngBytes = try Data(contentsOf: URL(fileURLWithPath: pngPath))
        let cases: [(String, Data, String)] = [
            ("truncated.jpg", jpegBytes.prefix(jpegBytes.count / 2), "damaged JPEG"),
            ("header-only.jpg", jpegBytes.prefix(4), "not a readable JPEG"),
            ("truncated.png", pngBytes.prefix(pngBytes.count - 30), "damaged PNG"),
            ("empty.png", Data(), "is empty"),
            ("notes.png", Data("just some text".utf8), "neither a PNG nor a JPEG"),
        ]
        for (name, bytes, reason) in cases {
            let path = dir.appendingPathComponent(name).path
            try bytes.write(to: URL(fileURLWithPath: path))
            do {
                _ = try ImageFile.read(path)
                Issue.record("\(name) was read")
            } catch {
                #expect("\(error)".contains(path) && "\(error)".contains(reason), "\(name): \(error)")
            }
        }
        #expect(throws: ImageFileError.self) { try ImageFile.read(dir.appendingPathComponent("missing.png").path) }
    }

    @Test("Resizing: area averages when shrinking, bilinear when enlarging, centre squares")
    func resampling() {
        let p = PixelImage(width: 4, height: 2, channels: 1, pixels: [0, 100, 200, 40, 10, 110, 210, 60])
        #expect(Resample.resize(p, width: 2, height: 1).pixels == [55, 128])  // means of 2x2 blocks
        let flat = PixelImage(width: 3, height: 3, channels: 3, pixels: [UInt8](repeating: 77, count: 27))
        #expect(Resample.resize(flat, width: 7, height: 5).pixels.allSatisfy { $0 == 77 })
        let ramp = PixelImage(width: 2, height: 1, channels: 1, pixels: [0, 200])
        #expect(Resample.resize(ramp, width: 4, height: 1).pixels == [0, 50, 150, 200])
        // 6x2 -> shorter side 1 -> 3x1, centre square 1x1: the middle pair's mean.
        let wide = PixelImage(width: 6, height: 2, channels: 1, pixels: [0, 0, 90, 110, 0, 0, 0, 0, 90, 110, 0, 0])
        #expect(Resample.squareCentre(wide, side: 1).pixels == [100])
        #expect(Resample.channels(PixelImage(width: 1, height: 1, channels: 3, pixels: [255, 0, 0]), 1).pixels == [76])
    }

    @Test("Crops and flips per sample: centred by default, random ones drawn from the seed")
    func cropsAndFlips() {
        // One 1-channel 4x4 image holding 0...15.
        let data = ImageDataset(images: (0..<16).map(UInt8.init), labels: [0], count: 1, channels: 1, height: 4, width: 4,
                                classNames: ["x"], source: "test")
        var random = RandomGenerator(seed: 5)
        let centre = data.batch([0], range: 0...255, size: 2, randomCrop: false, flip: false, random: &random)
        #expect(centre == [5, 6, 9, 10] && random == RandomGenerator(seed: 5), "the centre crop draws nothing")
        var seen = Set<[Float]>()
        for _ in 0..<64 {
            let crop = data.batch([0], range: 0...255, size: 2, randomCrop: true, flip: true, random: &random)
            let (a, b) = (Int(crop[0]), Int(crop[1]))
            #expect(abs(a - b) == 1 && Int(crop[2]) == a + 4 && Int(crop[3]) == b + 4, "\(crop) is a 2x2 window, mirrored or not")
            seen.insert(crop)
        }
        #expect(seen.count == 18, "9 places x 2 mirrorings, got \(seen.count)")
        var (r1, r2) = (RandomGenerator(seed: 9), RandomGenerator(seed: 9))
        #expect(data.batch([0, 0], range: 0...1, size: 3, randomCrop: true, flip: true, random: &r1)
                == data.batch([0, 0], range: 0...1, size: 3, randomCrop: true, flip: true, random: &r2))
    }

    @Test("Image folders: PNG and JPEG of any size and kind, class sub-folders, bad files named or skipped")
    func folders() throws {
        let dir = try temporaryDirectory("folders")
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = dir.appendingPathComponent("photos")
        for (k, name) in ["coats", "dresses", "empty"].enumerated() {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
            guard name != "empty" else { continue }
            for i in 0..<3 {
                let (w, h) = (30 + 7 * i, 20 + 11 * k)
                let pixels = (0..<(w * h * 3)).map { UInt8(($0 * 7 + k * 50) % 256) }
                let picture = PixelImage(width: w, height: h, channels: 3, pixels: pixels)
                let base = root.appendingPathComponent("\(name)/\(i)")
                if i == 1 { try PNG.write(picture, to: base.path + ".png") } else { try JPEG.write(picture, to: base.path + ".JPG") }
            }
        }
        try Data("not a picture".utf8).write(to: root.appendingPathComponent("coats/readme.txt"))
        let loaded = try ImageFolder.load(directory: root.path, preprocessing: ImagePreprocessing(size: 16, loadSize: 20))
        let data = loaded.dataset
        #expect(data.count == 6 && data.channels == 3 && data.height == 20 && data.width == 20)
        #expect(data.classNames == ["coats", "dresses"] && data.labels == [0, 0, 0, 1, 1, 1], "an empty folder is no class")
        let gray = try ImageFolder.load(directory: root.path, preprocessing: ImagePreprocessing(size: 8, channels: 1)).dataset
        #expect(gray.channels == 1 && gray.images.count == 6 * 64)

        // A damaged picture stops loading, named; --skip-bad-images leaves it out.
        let bad = root.appendingPathComponent("dresses/3.jpg").path
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).write(to: URL(fileURLWithPath: bad))
        do {
            _ = try ImageFolder.load(directory: root.path, preprocessing: ImagePreprocessing(size: 16))
            Issue.record("a damaged picture was accepted")
        } catch {
            #expect("\(error)".contains(bad) && "\(error)".contains("--skip-bad-images"), "\(error)")
        }
        let skipped = try ImageFolder.load(directory: root.path, preprocessing: ImagePreprocessing(size: 16), skipBadImages: true)
        #expect(skipped.dataset.count == 6 && skipped.skipped.count == 1 && skipped.skipped[0].contains(bad))

        // Nothing readable, or nothing at all, is an error even when skipping.
        let onlyBad = dir.appendingPathComponent("only-bad")
        try FileManager.default.createDirectory(at: onlyBad, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: onlyBad.appendingPathComponent("a.png"))
        #expect(throws: DatasetError.self) { try ImageFolder.load(directory: onlyBad.path, preprocessing: ImagePreprocessing(size: 16), skipBadImages: true) }
        try FileManager.default.removeItem(at: onlyBad.appendingPathComponent("a.png"))
        do {
            _ = try ImageFolder.load(directory: onlyBad.path, preprocessing: ImagePreprocessing(size: 16))
            Issue.record("an empty folder was accepted")
        } catch {
            #expect("\(error)".contains("holds no pictures"), "\(error)")
        }
    }
}
