import Foundation
import Testing
@testable import AtelierModels

/// cdcgan's sheets: a named row (or more) per class.
struct ClassSheetTests {
    /// Dark pixels (text) in a rectangle of a gray image.
    static func dark(_ image: PixelImage, x: Range<Int>, y: Range<Int>) -> Int {
        y.reduce(0) { sum, row in sum + x.filter { image.pixels[row * image.width + $0] < 100 }.count }
    }

    @Test("Images are sorted into rows by class, each class named on the left of its first row")
    func rowsByClass() throws {
        let size = 6, names = ["Dress", "Coat", "Bag"]
        // Image n is class n % 3 and filled with that class's own gray.
        let classes = (0..<7).map { $0 % 3 }
        let grays: [Float] = [-0.5, 0.25, 1]
        let images = classes.flatMap { Array(repeating: grays[$0], count: size * size) }
        let image = try Pictures.classSheet(images, classes: classes, names: names, channels: 1, size: size, columns: 2,
                                            range: -1...1)
        #expect(image.channels == 1)
        // Rows: Dress (2), Dress (1), Coat (2), Bag (2); two cells wide, zoom 2, 2-pixel borders.
        let cell = (size + 2) * 2
        #expect(image.height == 4 * cell + 4)
        let labels = image.width - (2 * cell + 4)
        #expect(labels > 20)
        func pixel(row: Int, column: Int) -> UInt8 {
            image.pixels[(row * cell + 4 + size) * image.width + labels + column * cell + 4 + size]
        }
        let byte = grays.map { UInt8((($0 + 1) * 127.5).rounded()) }
        #expect([pixel(row: 0, column: 0), pixel(row: 0, column: 1), pixel(row: 1, column: 0)] == [byte[0], byte[0], byte[0]])
        #expect(pixel(row: 1, column: 1) == 96, "the empty cell is the border's gray")
        #expect([pixel(row: 2, column: 0), pixel(row: 2, column: 1)] == [byte[1], byte[1]])
        #expect([pixel(row: 3, column: 0), pixel(row: 3, column: 1)] == [byte[2], byte[2]])
        // A name beside the first row of each class, none beside the second row of Dress.
        let rowsWithText = (0..<4).map { Self.dark(image, x: 0..<labels, y: $0 * cell..<($0 + 1) * cell) > 10 }
        #expect(rowsWithText == [true, false, true, true])
    }

    @Test("RGB images stay RGB; the sheet is as wide as the fullest row")
    func colourAndWidth() throws {
        let image = try Pictures.classSheet([Float](repeating: 0, count: 2 * 3 * 4 * 4), classes: [1, 1], names: ["A", "B"],
                                            channels: 3, size: 4, columns: 8, range: 0...1)
        #expect(image.channels == 3)
        #expect(image.height == (4 + 2) * 2 + 4, "class A has no images and no row")
        let cell = (4 + 2) * 2
        #expect(image.width > 2 * cell + 4 && image.width < 2 * cell + 4 + 60)
    }
}
