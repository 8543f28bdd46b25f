"""Texts of the venue page's time slots (booking, the booking screen, its use at the door), in
Indonesian and English; joined to the visitor pages' texts (``web.texts``).

``{placeholders}`` are filled by whoever shows the text.
"""

TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "book_intro": "Tempat ini memakai slot waktu: pesan tempat lebih dulu, atau cek-in "
                      "langsung jika masih ada tempat.",
        "book_open": "Pesan slot waktu",
        "book_title": "Pesan slot waktu",
        "book_day": "Hari",
        "book_slot": "Slot waktu",
        "book_slot_free": "{start}–{end} · sisa {free} tempat",
        "book_slots_loading": "Memuat slot…",
        "book_slots_none": "Tidak ada slot yang masih bisa dipesan pada hari ini.",
        "book_slots_closed": "Tutup pada hari ini. Pilih hari lain.",
        "book_slots_failed": "Slot tidak dapat dimuat. Periksa koneksi Anda lalu coba lagi.",
        "book_pick_slot": "Pilih salah satu slot waktu.",
        "book_submit": "Pesan sekarang",
        "book_close": "Tutup",
        "booking_ok": "Pemesanan berhasil",
        "booking_day": "Hari",
        "booking_time": "Waktu",
        "booking_come": "Datanglah antara pukul {start} dan {until}; setelah itu pemesanan hangus.",
        "booking_show": "Di pintu masuk: pindai poster tempat ini lalu tekan \u201cPakai pemesanan "
                        "saya\u201d, atau tunjukkan kode QR ini kepada petugas.",
        "booking_qr_alt": "Kode QR pemesanan Anda, untuk dipindai petugas",
        "booking_code": "Kode pemesanan",
        "booking_use": "Pakai pemesanan saya",
        "booking_cancel": "Batalkan pemesanan",
        "booking_cancel_confirm": "Batalkan pemesanan {day} pukul {time}? Tempat Anda akan "
                                  "diberikan kepada orang lain.",
        "booking_cancel_yes": "Ya, batalkan",
        "booking_cancel_no": "Tidak, simpan",
        "booking_cancelled": "Pemesanan dibatalkan; tempatnya sudah dikembalikan.",
        "booking_gone": "Pemesanan Anda untuk {day} pukul {time} sudah hangus.",
        "error_slot_full": "Slot ini sudah penuh dipesan. Pilih slot lain.",
        "error_slot_full_next": "Slot ini sudah penuh dipesan. Masih ada tempat pukul {slots}.",
        "error_slot_closed": "Slot ini sudah dimulai dan tidak bisa dipesan lagi. Pilih slot "
                             "berikutnya.",
        "error_unknown_slot": "Slot ini tidak ada lagi. Pilih slot lain.",
        "error_day_past": "Hari ini sudah lewat. Pilih hari ini atau hari berikutnya.",
        "error_day_too_far": "Hari ini terlalu jauh untuk dipesan. Pilih hari yang lebih dekat.",
        "error_booking_limit": "Nomor HP ini sudah memegang {limit} pemesanan di sini pada hari "
                               "itu, batas dari tempat ini.",
        "error_no_slots": "Tempat ini tidak lagi memakai slot waktu: langsung cek-in saja.",
        "error_claim_too_early": "Slot Anda mulai pukul {time}. Kembalilah saat itu.",
        "error_claim_too_early_day": "Slot Anda mulai {day} pukul {time}. Kembalilah saat itu.",
        "error_booking_expired": "Pemesanan ini sudah hangus: tidak dipakai sampai pukul {time}.",
        "error_booking_cancelled": "Pemesanan ini sudah dibatalkan.",
        "error_booking_claimed": "Pemesanan ini sudah dipakai untuk masuk.",
        "error_unknown_booking": "Pemesanan ini tidak dikenal lagi.",
        "error_booking_venue_full": "Tempat ini masih penuh oleh pengunjung slot sebelumnya. "
                                    "Tunggu sebentar, lalu coba lagi.",
        "error_booking_venue_paused": "Pengelola sedang menunda masuk. Silakan coba lagi nanti.",
        "error_door_code_needed": "Di sini pemesanan dipakai dari layar di pintu masuk: pindai "
                                  "kode QR yang tampil di layar itu (foto poster tidak cukup).",
        "error_door_code_stale": "Kode layar pintu sudah berganti: pindai lagi kode QR di layar "
                                 "pintu masuk.",
    },
    "en": {
        "book_intro": "This venue is run by time slots: book a place in advance, or check in now "
                      "if there is room.",
        "book_open": "Book a time slot",
        "book_title": "Book a time slot",
        "book_day": "Day",
        "book_slot": "Time slot",
        "book_slot_free": "{start}–{end} · {free} places left",
        "book_slots_loading": "Loading the slots…",
        "book_slots_none": "No slot can still be booked on this day.",
        "book_slots_closed": "Closed on this day. Pick another day.",
        "book_slots_failed": "The slots could not be loaded. Check your connection, then try "
                             "again.",
        "book_pick_slot": "Pick one of the time slots.",
        "book_submit": "Book now",
        "book_close": "Close",
        "booking_ok": "Booked",
        "booking_day": "Day",
        "booking_time": "Time",
        "booking_come": "Come between {start} and {until}; after that the booking expires.",
        "booking_show": "At the entrance: scan this venue's poster and tap \u201cUse my "
                        "booking\u201d, or show this QR code to the staff.",
        "booking_qr_alt": "Your booking's QR code, for the staff to scan",
        "booking_code": "Booking code",
        "booking_use": "Use my booking",
        "booking_cancel": "Cancel booking",
        "booking_cancel_confirm": "Cancel your booking for {day} at {time}? Your places go to "
                                  "others.",
        "booking_cancel_yes": "Yes, cancel it",
        "booking_cancel_no": "No, keep it",
        "booking_cancelled": "Booking cancelled; its places were given back.",
        "booking_gone": "Your booking for {day} at {time} has expired.",
        "error_slot_full": "This slot is fully booked. Pick another one.",
        "error_slot_full_next": "This slot is fully booked. There is room at {slots}.",
        "error_slot_closed": "This slot has started and can no longer be booked. Pick a later one.",
        "error_unknown_slot": "This slot no longer exists. Pick another one.",
        "error_day_past": "That day is past. Pick today or a later day.",
        "error_day_too_far": "That day is too far ahead to book. Pick a nearer day.",
        "error_booking_limit": "This phone number already holds {limit} booking(s) here that day, "
                               "the venue's limit.",
        "error_no_slots": "This venue no longer takes bookings: just check in.",
        "error_claim_too_early": "Your slot starts at {time}. Come back then.",
        "error_claim_too_early_day": "Your slot starts on {day} at {time}. Come back then.",
        "error_booking_expired": "This booking has expired: it was not used by {time}.",
        "error_booking_cancelled": "This booking was cancelled.",
        "error_booking_claimed": "This booking was already used to enter.",
        "error_unknown_booking": "This booking is no longer known.",
        "error_booking_venue_full": "The venue is still full with the previous slot's visitors. "
                                    "Wait a moment, then try again.",
        "error_booking_venue_paused": "The manager has paused entry. Please try again later.",
        "error_door_code_needed": "Here a booking is used from the screen at the entrance: scan "
                                  "the QR code shown on it (a photo of the poster is not enough).",
        "error_door_code_stale": "The door screen's code has changed: scan the QR code on the "
                                 "screen at the entrance again.",
    },
}

SCRIPT_KEYS = tuple(TEXTS["en"])
